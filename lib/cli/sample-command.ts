/** `percpu sample`: the Rust sample module's checks on worker-thread CPUs (sample.ts). */
import { MAX_CPUS } from '../core/region';
import { BACKEND_OPTION, EXIT, HELP_OPTION, backendOption, wholeNumber, type Command } from './args';
import { runSample, type SampleOptions } from './sample';

export const sampleCommand: Command = {
  name: 'sample',
  synopsis: '[--cpus N] [--backend auto|gs|generic] [--json]',
  summary: "run the Rust percpu sample module's checks on worker-thread CPUs",
  description:
    'Runs the checks of the Rust percpu sample module (samples/rust/rust_percpu.rs) on N worker-thread CPUs: ' +
    'static per-CPU variables through guarded tokens, dynamic ones with on_each_cpu, clones and their release, and ' +
    'the single-instruction numeric ops on every integer type.\n\n' +
    "Prints the module's messages; a table with one row per check, its expected value and where it held; then " +
    'the backend that ran, how num() reaches the addon, and a last line with the counts: ' +
    "'percpu sample on N CPUs, <backend>: K checks passed, F failed'.",
  options: [
    { name: 'cpus', value: 'N', help: `CPUs to run on, 1 to ${MAX_CPUS}; more than the machine's cores is fine (default: os.availableParallelism())` },
    BACKEND_OPTION,
    {
      name: 'json',
      help: 'print one JSON document instead: cpus, backend, backendReason, numPath, passed, failed, and checks ' +
        '(each with check, expected, perCpu, and actual and ok for each CPU)',
    },
    HELP_OPTION,
  ],
  exitStatus: '0 every check passed; 1 a check failed, or percpu cannot run here (for example --backend gs where GS ' +
    'cannot work: the line on stderr says why); 2 a usage error.',

  async run(values, output) {
    const cpus = values.get('cpus');
    const backend = backendOption(values);
    const json = values.has('json');
    const options: SampleOptions = {
      log: json ? () => undefined : (line) => output.out(line),
      ...(typeof cpus === 'string' ? { cpus: wholeNumber('cpus', cpus, 1, MAX_CPUS) } : {}),
      ...(backend === undefined ? {} : { backend }),
    };
    const result = await runSample(options);
    if (json) output.out(JSON.stringify(result));
    return result.failed === 0 ? EXIT.ok : EXIT.failed;
  },
};
