/**
 * The `percpu` command: `percpu sample [--cpus N]` runs the Rust sample module on worker-thread CPUs.
 */
import { runSample } from './sample';

const USAGE = `usage: percpu sample [--cpus N]

  sample     run the Rust percpu sample module on N worker-thread CPUs
             (default: os.availableParallelism()); exit status 1 if a check fails
  --cpus N   number of CPUs (1 to 1024; more than the machine's cores is fine)
  --help     this text`;

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
  let cpus: number | undefined;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    const value = arg.startsWith('--cpus=') ? arg.slice(7) : arg === '--cpus' ? rest[++i] : undefined;
    if (value === undefined) {
      console.error(`percpu: unknown option '${arg}'\n${USAGE}`);
      return 2;
    }
    cpus = Number(value);
    if (!Number.isInteger(cpus) || cpus < 1) {
      console.error(`percpu: --cpus takes a whole number of at least 1, not '${value}'`);
      return 2;
    }
  }
  const result = await runSample(cpus === undefined ? {} : { cpus });
  return result.failed === 0 ? 0 : 1;
}
