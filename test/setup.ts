// Mocha root set-up: one per-CPU region for the whole run, as a process has one. Four CPUs,
// so that every test runs on more CPUs than this machine's two cores.
// The backend comes from PERCPU_BACKEND: `npm test` runs the suite once with each.
import { describeBackend, setup } from '../lib';

export const TEST_CPUS = 4;

const info = setup({ cpus: TEST_CPUS });
console.log(`  percpu test run, backend: ${describeBackend(info)}`);
