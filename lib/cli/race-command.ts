/**
 * `percpu race`: what migration and interrupts do to each per-CPU update method (lib/sim/race.ts),
 * each row printed as it finishes.
 */
import { PerCpuTypeError } from '../core/errors';
import { describeBackend } from '../core/region';
import {
  ALL_DEFAULT_RACE_ROWS,
  RACE_METHODS,
  RACE_NUMBERS,
  RACE_SCENARIOS,
  checkRaceRow,
  formatRaceHeader,
  formatRaceRow,
  neededBackend,
  raceMethodDescription,
  raceMethodsUnder,
  raceOk,
  raceRegion,
  runRace,
  type RaceMethod,
  type RaceNumber,
  type RaceOptions,
  type RaceResult,
  type RaceRowSpec,
  type RaceScenario,
} from '../sim/race';
import { BACKEND_OPTION, EXIT, HELP_OPTION, UsageError, backendOption, helpColumns, positiveNumber, wholeNumber, type Command, type OptionValues, type Output } from './args';
import { fold } from './text';

const isScenario = (text: string): text is RaceScenario => (RACE_SCENARIOS as readonly string[]).includes(text);
const isMethod = (text: string): text is RaceMethod => (RACE_METHODS as readonly string[]).includes(text);

/**
 * --rows: scenario:method[:gs|generic],... Every mistake names the row and what it could be. The
 * syntax is checked here, the rest by runRace's own checkRaceRow (before anything starts).
 */
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
    try {
      checkRaceRow(spec); // a row that needs a backend this build lacks: BackendUnavailableError, exit status 1
    } catch (error) {
      if (!(error instanceof PerCpuTypeError)) throw error;
      const on = backend === undefined ? '' : ` on ${backend}`;
      throw new UsageError(`--rows: '${item}' has no exact outcome; under ${scenario}${on}: ${raceMethodsUnder(scenario, backend).join(', ')}`);
    }
    return spec;
  });
}

type Numbers = Required<Pick<RaceOptions, RaceNumber>>;

/** The numeric options: runRace's option, its name here, and the help; the default and range are RACE_NUMBERS'. */
const NUMBER_OPTIONS: readonly { key: RaceNumber; name: string; value: string; help: string }[] = [
  { key: 'seconds', name: 'seconds', value: 'S', help: 'seconds per row' },
  { key: 'migrateHz', name: 'rate', value: 'HZ', help: 'swaps per second the scheduler attempts' },
  { key: 'irqHz', name: 'irq-rate', value: 'HZ', help: 'interrupts per second to each thread' },
  { key: 'threads', name: 'threads', value: 'N', help: 'bound worker threads' },
  { key: 'windowNs', name: 'window', value: 'NS', help: "the native generic loops' window between load and store" },
  { key: 'minMigrations', name: 'min-migrations', value: 'N', help: 'after S seconds a row runs on until the scheduler has made this many swaps' },
  { key: 'minInterrupts', name: 'min-interrupts', value: 'N', help: 'and until the threads have taken this many interrupts' },
  { key: 'maxSeconds', name: 'max-seconds', value: 'S', help: 'the longest a row may run waiting for them' },
];

/** An option's value from its text, in RACE_NUMBERS' range. */
function parseNumber(key: RaceNumber, name: string, text: string): number {
  const { kind, min, max } = RACE_NUMBERS[key];
  return kind === 'positive' ? positiveNumber(name, text, max) : wholeNumber(name, text, min, max);
}

/** An option's range and default, for the help. */
function numberHelp(key: RaceNumber): string {
  const { kind, min, max, default: fallback } = RACE_NUMBERS[key];
  return `${kind === 'positive' ? `at most ${max}` : `${min} to ${max}`} (default ${fallback})`;
}

/** runRace's options from the command line, every number given (the default where the line has none). */
function raceOptions(values: OptionValues): RaceOptions & Numbers {
  const text = (name: string) => {
    const value = values.get(name);
    return typeof value === 'string' ? value : undefined;
  };
  const numbers = Object.fromEntries(
    NUMBER_OPTIONS.map(({ key, name }) => {
      const given = text(name);
      return [key, given === undefined ? RACE_NUMBERS[key].default : parseNumber(key, name, given)];
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
  // The region runRace will run in, set up now (as runRace would) so that the backend is known before the first row.
  const info = raceRegion(options.threads, options.backend);
  if (!json) {
    for (const line of [...introduction({ ...options, backend: describeBackend(info) }), '', formatRaceHeader()]) output.out(line);
  }
  const result = await runRace({
    ...options,
    onRow: (row) => {
      if (!json) output.out(formatRaceRow(row));
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
  const scenarios = RACE_SCENARIOS.map((scenario) => [scenario, raceMethodsUnder(scenario).join(' ')] as const);
  const methods = RACE_METHODS.map((method) => [method, raceMethodDescription(method)] as const);
  return ['rows (scenario: its methods):', ...helpColumns(scenarios), '', 'methods:', ...helpColumns(methods)].join('\n');
}

/** The default rows: how many, and how many a build without the gs backend runs. */
const DEFAULT_ROWS_HELP =
  `the ${ALL_DEFAULT_RACE_ROWS.length} rows of percpu/sim's DEFAULT_RACE_ROWS, ` +
  `${ALL_DEFAULT_RACE_ROWS.filter((row) => neededBackend(row) !== 'gs').length} on a build without gs`;

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
    { name: 'rows', value: 'LIST', help: `only these rows, comma-separated, each scenario:method[:gs|generic] (default: ${DEFAULT_ROWS_HELP})` },
    ...NUMBER_OPTIONS.map((o) => ({ name: o.name, value: o.value, help: `${o.help}, ${numberHelp(o.key)}` })),
    BACKEND_OPTION,
    { name: 'json', help: 'print one JSON document instead (a RaceResult of percpu/sim): the options, backend, rows and safety' },
    HELP_OPTION,
  ],
  sections: [rowsHelp()],
  exitStatus: '0 every row as expected; 1 a row was not as expected or a scheduler check failed, or percpu cannot ' +
    'run here (the line on stderr says why); 2 a usage error.',
  run,
};
