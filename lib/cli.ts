/**
 * The `percpu` command: `percpu sample [--cpus N] [--backend B]` runs the Rust sample module on
 * worker-thread CPUs.
 */
import type { BackendChoice } from './region';
import { runSample, type SampleOptions } from './sample';

const USAGE = `usage: percpu sample [--cpus N] [--backend auto|gs|generic]

  sample        run the Rust percpu sample module on N worker-thread CPUs
                (default: os.availableParallelism()); exit status 1 if a check fails
  --cpus N      number of CPUs (1 to 1024; more than the machine's cores is fine)
  --backend B   gs (one GS-relative instruction per op; Linux x86-64), generic (this CPU's
                pointer, then the plain op; anywhere) or auto (gs where it works, the default;
                the PERCPU_BACKEND environment variable sets it too)
  --help        this text`;

const BACKEND_CHOICES: readonly string[] = ['auto', 'gs', 'generic'];

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command !== 'sample') {
    console.error(`percpu: unknown command '${command}'\n${USAGE}`);
    return 2;
  }
  const options: SampleOptions = {};
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    const [name, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (name !== '--cpus' && name !== '--backend') {
      console.error(`percpu: unknown option '${arg}'\n${USAGE}`);
      return 2;
    }
    const value = inline ?? rest[++i];
    if (name === '--cpus') {
      const cpus = Number(value);
      if (!Number.isInteger(cpus) || cpus < 1) {
        console.error(`percpu: --cpus takes a whole number of at least 1, not '${value}'`);
        return 2;
      }
      options.cpus = cpus;
    } else {
      if (value === undefined || !BACKEND_CHOICES.includes(value)) {
        console.error(`percpu: --backend takes auto, gs or generic, not '${value}'`);
        return 2;
      }
      options.backend = value as BackendChoice;
    }
  }
  const result = await runSample(options);
  return result.failed === 0 ? 0 : 1;
}
