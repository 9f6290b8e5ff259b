/**
 * `percpu race`: what migration and interrupts do to each per-CPU update method (lib/sim/race.ts),
 * each row printed as it finishes.
 */
import { BackendUnavailableError, PerCpuTypeError } from '../core/errors';
import { BACKENDS, describeBackend, region, setup, type BackendName } from '../core/region';
import { RACE_METHODS, RACE_SCENARIOS, raceExpectation, raceOk, type RaceMethod, type RaceOptions, type RaceResult, type RaceRowSpec, type RaceScenario } from '../sim/race';
import { BACKEND_OPTION, EXIT, HELP_OPTION, UsageError, backendOption, helpColumns, positiveNumber, wholeNumber, type Command, type OptionValues, type Output } from './args';
import { raceFormat, runRaceStreaming } from './race-stream';
import { fold } from './text';

/** What each method does, for the help. */
const METHOD_HELP: Record<RaceMethod, string> = {
  gs: 'native this_cpu_add: one add %reg,%gs:(off) (the gs backend only)',
  raw: 'native generic, nothing held off (raw_cpu_add): pointer, load, window, store',
  guard: 'the same in a CpuGuard (preempt off): safe from migration, not from interrupts',
  irqsave: 'the same with interrupts off (local_irq_save)',
  'js-add': 'JS num().add(1n) (under interrupts: on the gs backend)',
  'js-rmw': 'JS thisCpu(), readRemote, writeRemote, no guard',
  'js-guard': 'JS getMut(new CpuGuard()).with(slot => slot.value += 1n)',
};

const isScenario = (text: string): text is RaceScenario => (RACE_SCENARIOS as readonly string[]).includes(text);
const isMethod = (text: string): text is RaceMethod => (RACE_METHODS as readonly string[]).includes(text);

/** True when the row has an exact expected outcome on its backend (or, if it names none, on one). */
function hasOutcome(spec: RaceRowSpec): boolean {
  if (spec.method === 'gs' && spec.backend === 'generic') return false; // the gs loop needs GS set
  return (spec.backend === undefined ? (['gs', 'generic'] as const) : [spec.backend]).some((backend) => {
    try {
      raceExpectation(spec, backend);
      return true;
    } catch (error) {
      if (error instanceof PerCpuTypeError) return false;
      throw error;
    }
  });
}

/** The methods a scenario can race with an exact outcome. */
const methodsUnder = (scenario: RaceScenario, backend?: BackendName): RaceMethod[] =>
  RACE_METHODS.filter((method) => hasOutcome({ scenario, method, ...(backend === undefined ? {} : { backend }) }));

/** The backend a row must run on whatever this process's is (as runRace decides), if any. */
function requiredBackend(spec: RaceRowSpec): BackendName | undefined {
  return spec.backend ?? (spec.method === 'gs' || (spec.method === 'js-add' && spec.scenario !== 'migration') ? 'gs' : undefined);
}

/** --rows: scenario:method[:gs|generic],... Every mistake names the row and what it could be. */
export function parseRows(text: string): RaceRowSpec[] {
  return text.split(',').map((item) => {
    const [scenario, method, backend, ...rest] = item.split(':');
    if (method === undefined || rest.length > 0) {
      throw new UsageError(`--rows: '${item}' is not a row (scenario:method[:gs|generic], e.g. migration:raw)`);
    }
    if (!isScenario(scenario!)) {
      throw new UsageError(`--rows: no scenario '${scenario}' (row '${item}'); scenarios: ${RACE_SCENARIOS.join(', ')}`);
    }
    if (!isMethod(method)) {
      throw new UsageError(`--rows: no method '${method}' (row '${item}'); methods: ${RACE_METHODS.join(', ')}`);
    }
    if (backend !== undefined && backend !== 'gs' && backend !== 'generic') {
      throw new UsageError(`--rows: no backend '${backend}' (row '${item}'); backends: gs, generic`);
    }
    const spec: RaceRowSpec = { scenario, method, ...(backend === undefined ? {} : { backend }) };
    if (!hasOutcome(spec)) {
      const on = backend === undefined ? '' : ` on ${backend}`;
      throw new UsageError(`--rows: '${item}' has no exact outcome; under ${scenario}${on}: ${methodsUnder(scenario, backend).join(', ')}`);
    }
    const needs = requiredBackend(spec);
    if (needs !== undefined && !BACKENDS.includes(needs)) {
      throw new BackendUnavailableError(`the ${scenario} ${method} race needs the ${needs} backend, which this build of percpu lacks`);
    }
    return spec;
  });
}

type Numbers = Required<Pick<RaceOptions, 'seconds' | 'migrateHz' | 'irqHz' | 'threads' | 'windowNs' | 'minMigrations' | 'minInterrupts' | 'maxSeconds'>>;

/** The numeric options: runRace's option, its default (runRace's), how the text is read, the help. */
const NUMBER_OPTIONS: readonly { key: keyof Numbers; name: string; value: string; default: number; parse(flag: string, text: string): number; help: string }[] = [
  { key: 'seconds', name: 'seconds', value: 'S', default: 0.5, parse: (f, t) => positiveNumber(f, t, 600), help: 'seconds per row, at most 600' },
  { key: 'migrateHz', name: 'rate', value: 'HZ', default: 1000, parse: (f, t) => positiveNumber(f, t, 100_000), help: 'swaps per second the scheduler attempts, at most 100000' },
  { key: 'irqHz', name: 'irq-rate', value: 'HZ', default: 1000, parse: (f, t) => positiveNumber(f, t, 100_000), help: 'interrupts per second to each thread, at most 100000' },
  { key: 'threads', name: 'threads', value: 'N', default: 4, parse: (f, t) => wholeNumber(f, t, 2, 1024), help: 'bound worker threads, 2 to 1024' },
  { key: 'windowNs', name: 'window', value: 'NS', default: 1000, parse: (f, t) => wholeNumber(f, t, 0, 1e7), help: "the native generic loops' window between load and store, 0 to 10000000" },
  { key: 'minMigrations', name: 'min-migrations', value: 'N', default: 1, parse: (f, t) => wholeNumber(f, t, 0, 1e9), help: 'after S seconds a row runs on until the scheduler has made this many swaps, at most 1000000000' },
  { key: 'minInterrupts', name: 'min-interrupts', value: 'N', default: 1, parse: (f, t) => wholeNumber(f, t, 0, 1e9), help: 'and until the threads have taken this many interrupts, at most 1000000000' },
  { key: 'maxSeconds', name: 'max-seconds', value: 'S', default: 60, parse: (f, t) => positiveNumber(f, t, 3600), help: 'the longest a row may run waiting for them, at most 3600' },
];

/** runRace's options from the command line, every number given (the default where the line has none). */
function raceOptions(values: OptionValues): RaceOptions & Numbers {
  const text = (name: string) => {
    const value = values.get(name);
    return typeof value === 'string' ? value : undefined;
  };
  const numbers = Object.fromEntries(
    NUMBER_OPTIONS.map((option) => {
      const given = text(option.name);
      return [option.key, given === undefined ? option.default : option.parse(option.name, given)];
    }),
  ) as Numbers;
  if (numbers.seconds > numbers.maxSeconds) {
    throw new UsageError(`--max-seconds (${numbers.maxSeconds}) must be at least --seconds (${numbers.seconds})`);
  }
  const rows = text('rows');
  const backend = backendOption(values);
  return { ...numbers, ...(rows === undefined ? {} : { rows: parseRows(rows) }), ...(backend === undefined ? {} : { backend }) };
}

/** The lines before the rows. */
function introduction(result: Numbers & { backend: string }): string[] {
  return [
    `percpu race: ${result.threads} bound threads, ${result.seconds} s per row (on until ${result.minMigrations}+ swaps / ` +
      `${result.minInterrupts}+ interrupts, ${result.maxSeconds} s at most)`,
    `this process: ${result.backend}`,
    `migration: swaps attempted at ${result.migrateHz} Hz; interrupts: ${result.irqHz} Hz per thread; generic window ${result.windowNs} ns`,
  ].flatMap((line) => fold(line));
}

/** The lines after the rows. */
function conclusion(result: RaceResult): string[] {
  const migrating = result.rows.filter((r) => r.scenario !== 'interrupts');
  const swaps = migrating.reduce((n, r) => n + r.migrations, 0);
  const seconds = migrating.reduce((t, r) => t + r.seconds, 0);
  const failed = result.rows.filter((r) => !r.ok).length;
  const s = result.safety;
  const lines = [
    `${result.rows.length - failed} rows as expected, ${failed} not.`,
    ...(migrating.length === 0 ? [] : [`swaps made: ${(swaps / seconds).toFixed(0)} per second on average over the rows that migrate.`]),
    ...(result.rows.some((r) => !r.enough) ? ['too few: the scheduler made fewer swaps or interrupts than asked for in --max-seconds.'] : []),
    `scheduler checks: ${s.handlerChecks} in the handlers after swaps (each thread reads its new CPU through its backend; ` +
      `the owners table names both threads), ${s.tableChecks} of the whole table; ${s.checkFailures} failed, ${s.violations} ` +
      `violations, ${s.strays} signals on threads not taking part.`,
    ...(result.rows.some((r) => r.method === 'js-add' && r.backend === 'generic')
      ? ['JS num().add() on generic is not raced against interrupts: the addon holds preemption off around it, not interrupts.']
      : []),
  ];
  return lines.flatMap((line) => fold(line));
}

async function run(values: OptionValues, output: Output): Promise<number> {
  const options = raceOptions(values);
  const json = values.has('json');
  // Set up here (runRace would, the same way) so that the backend is known before the first row.
  const info = region() ?? setup({ cpus: options.threads, ...(options.backend === undefined ? {} : { backend: options.backend }) });
  const format = raceFormat();
  if (!json) {
    for (const line of [...introduction({ ...options, backend: describeBackend(info) }), '', ...format.header()]) output.out(line);
  }
  const result = await runRaceStreaming(options, {
    onRow: (row) => {
      if (!json) for (const line of format.row(row)) output.out(line);
    },
    onProgress: (message) => {
      for (const line of fold(message)) output.err(line);
    },
  });
  if (json) output.out(JSON.stringify(result));
  else for (const line of ['', ...conclusion(result)]) output.out(line);
  return raceOk(result) ? EXIT.ok : EXIT.failed;
}

function rowsHelp(): string {
  const scenarios = RACE_SCENARIOS.map((scenario) => [scenario, methodsUnder(scenario).join(' ')] as const);
  return ['rows (scenario: its methods):', ...helpColumns(scenarios), '', 'methods:', ...helpColumns(RACE_METHODS.map((m) => [m, METHOD_HELP[m]]))].join('\n');
}

export const raceCommand: Command = {
  name: 'race',
  synopsis: '[--rows LIST] [--seconds S] [--json] [other options]',
  summary: 'count the per-CPU updates lost while a scheduler migrates and interrupts threads',
  description:
    'N bound worker threads count in per-CPU variables while a scheduler migrates them between CPUs (swapping ' +
    "two threads' CPUs with a signal) and/or interrupts them. Each row is a scenario and an update method; as " +
    'each row finishes it prints the updates issued, those found in the sum over CPUs, those lost, the swaps ' +
    'and interrupts, and whether that is what the method must give (none lost, or some lost). Rows that need ' +
    'the other backend run in a child process. Progress goes to stderr.',
  options: [
    { name: 'rows', value: 'LIST', help: 'only these rows, comma-separated, each scenario:method[:gs|generic] (default: every row below that this build can run)' },
    ...NUMBER_OPTIONS.map((o) => ({ name: o.name, value: o.value, help: `${o.help} (default ${o.default})` })),
    BACKEND_OPTION,
    { name: 'json', help: 'print one JSON document instead (a RaceResult of percpu/sim): the options, backend, rows and safety' },
    HELP_OPTION,
  ],
  sections: [rowsHelp()],
  exitStatus: '0 every row as expected; 1 a row was not as expected or a scheduler check failed, or percpu cannot ' +
    'run here (the line on stderr says why); 2 a usage error.',
  run,
};
