/**
 * The `percpu` command: `percpu sample [--cpus N] [--backend B]` runs the Rust sample module on
 * worker-thread CPUs; `percpu race [--seconds S] [--rate HZ] ...` shows what migration and
 * interrupts do to each per-CPU update method (lib/race.ts).
 */
import { decodeRows, exitWithRaceParent, formatRaceTable, raceOk, runRace, type RaceOptions } from '../sim/race';
import type { BackendChoice } from '../core/region';
import { runSample, type SampleOptions } from './sample';

const USAGE = `usage: percpu sample [--cpus N] [--backend auto|gs|generic]
       percpu race [--seconds S] [--rate HZ] [--irq-rate HZ] [--threads N] [--window NS] [--backend B] [...]

  sample        run the Rust percpu sample module on N worker-thread CPUs
                (default: os.availableParallelism()); exit status 1 if a check fails
  --cpus N      number of CPUs (1 to 1024; more than the machine's cores is fine)
  --backend B   gs (one GS-relative instruction per op; Linux x86-64), generic (this CPU's
                pointer, then the plain op; anywhere) or auto (gs where it works, the default;
                the PERCPU_BACKEND environment variable sets it too)
  race          N bound threads count in per-CPU variables while a scheduler migrates them
                between CPUs (swapping two threads' CPUs with a signal) and/or interrupts them;
                prints, per method, updates issued, found in the sum over CPUs, and lost;
                exit status 1 if a row is not as expected
  --seconds S   seconds per row (default 0.5)
  --rate HZ     swaps per second the scheduler attempts (default 1000)
  --irq-rate HZ interrupts per second to each thread (default 1000)
  --threads N   bound worker threads (default 4)
  --window NS   the native generic loops' window between load and store (default 1000)
  --min-migrations N, --min-interrupts N
                after S seconds a row runs on until this many swaps / interrupts (default 1)
  --max-seconds S
                the longest a row may run waiting for them (default 60)
  --rows LIST   only these rows: scenario:method[:gs|generic],... with scenario migration,
                interrupts or both and method gs, raw, guard, irqsave, js-add, js-rmw, js-guard
  --json        print the result as JSON (rows for the other backend run this way in a child)
  --help        this text`;

const BACKEND_CHOICES: readonly string[] = ['auto', 'gs', 'generic'];

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command !== 'sample' && command !== 'race') {
    console.error(`percpu: unknown command '${command}'\n${USAGE}`);
    return 2;
  }
  const allowed = command === 'sample'
    ? ['--cpus', '--backend']
    : ['--seconds', '--rate', '--irq-rate', '--threads', '--window', '--backend', '--rows', '--json',
      '--min-migrations', '--min-interrupts', '--max-seconds'];
  const values = new Map<string, string>();
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    const [name, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (!allowed.includes(name)) {
      console.error(`percpu: unknown option '${arg}'\n${USAGE}`);
      return 2;
    }
    values.set(name, name === '--json' ? '' : (inline ?? rest[++i] ?? ''));
  }
  const backend = values.get('--backend');
  if (backend !== undefined && !BACKEND_CHOICES.includes(backend)) {
    console.error(`percpu: --backend takes auto, gs or generic, not '${backend}'`);
    return 2;
  }
  if (command === 'race') return race(values);
  const options: SampleOptions = {};
  if (backend !== undefined) options.backend = backend as BackendChoice;
  if (values.has('--cpus')) {
    const value = values.get('--cpus')!;
    const cpus = Number(value);
    if (!Number.isInteger(cpus) || cpus < 1) {
      console.error(`percpu: --cpus takes a whole number of at least 1, not '${value}'`);
      return 2;
    }
    options.cpus = cpus;
  }
  const result = await runSample(options);
  return result.failed === 0 ? 0 : 1;
}

const RACE_NUMBERS = {
  '--seconds': 'seconds',
  '--rate': 'migrateHz',
  '--irq-rate': 'irqHz',
  '--threads': 'threads',
  '--window': 'windowNs',
  '--min-migrations': 'minMigrations',
  '--min-interrupts': 'minInterrupts',
  '--max-seconds': 'maxSeconds',
} as const;

async function race(values: Map<string, string>): Promise<number> {
  const options: RaceOptions = {};
  for (const [flag, key] of Object.entries(RACE_NUMBERS)) {
    const value = values.get(flag);
    if (value === undefined) continue;
    const number = Number(value);
    if (value === '' || !Number.isFinite(number) || number < 0) {
      console.error(`percpu: ${flag} takes a number, not '${value}'`);
      return 2;
    }
    options[key] = number;
  }
  if (values.has('--backend')) options.backend = values.get('--backend') as BackendChoice;
  if (values.has('--rows')) options.rows = decodeRows(values.get('--rows')!);
  const json = values.has('--json');
  exitWithRaceParent();
  const result = await runRace(options);
  if (json) {
    console.log(JSON.stringify(result));
  } else {
    const migrating = result.rows.filter((r) => r.scenario !== 'interrupts');
    const achieved = migrating.reduce((n, r) => n + r.migrations, 0) / Math.max(1e-9, migrating.reduce((t, r) => t + r.seconds, 0));
    console.log(`percpu race: ${result.threads} bound threads, ${result.seconds} s per row; this process: ${result.backend}`);
    console.log(`migration: swaps attempted at ${result.migrateHz} Hz, ${achieved.toFixed(0)} swaps/s made on average; ` +
      `interrupts: ${result.irqHz} Hz per thread; generic window ${result.windowNs} ns\n`);
    console.log(formatRaceTable(result));
    const failed = result.rows.filter((r) => !r.ok).length;
    const s = result.safety;
    console.log(`\n${result.rows.length - failed} rows as expected, ${failed} not.`);
    console.log(`scheduler checks: ${s.handlerChecks} in the handlers after swaps (each thread reads its new CPU through its ` +
      `backend; the owners table names both threads), ${s.tableChecks} of the whole table; ${s.checkFailures} failed, ` +
      `${s.violations} violations, ${s.strays} signals on threads not taking part.`);
    if (result.rows.some((r) => r.method === 'js-add' && r.backend === 'generic')) {
      console.log('JS num().add() on generic is not raced against interrupts: the addon holds preemption off around it, not interrupts.');
    }
  }
  return raceOk(result) ? 0 : 1;
}
