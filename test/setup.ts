// Mocha root set-up: one per-CPU region for the whole run, as a process has one. Four CPUs,
// so that every test runs on more CPUs than this machine's two cores.
import { setup } from '../lib';

export const TEST_CPUS = 4;

setup({ cpus: TEST_CPUS });
