/**
 * The race, row by row, for `percpu race`: each row reported as it finishes, progress as it goes.
 *
 * runRace streams when it takes `onRow` and `onProgress` and percpu/sim (lib/sim/index.ts) exports
 * `formatRaceRow(row)` and `formatRaceHeader()` (lines of at most 100 columns); this adapter uses
 * them when they are there. Until then it runs one runRace per row and formats rows itself.
 * When they land, everything below FALLBACK can go: runRaceStreaming becomes runRace with the
 * hooks, and raceFormat the two formatters.
 */
import * as sim from '../sim';
import type { RaceOptions, RaceResult, RaceRow, RaceRowSpec, RaceSafety } from '../sim';
import { tableLine, tableRule, type Column } from './text';

export interface RaceStreamHooks {
  /** Called as each row finishes, in order. */
  onRow(row: RaceRow, index: number, total: number): void;
  /** What the race is doing now, in one line. */
  onProgress(message: string): void;
}

/** The race's rows as text: the header lines, then each row's lines. */
export interface RaceFormat {
  header(): string[];
  row(row: RaceRow): string[];
}

/** runRace and the formatters of a percpu/sim that streams. */
interface StreamingRace {
  runRace(options: RaceOptions & RaceStreamHooks): Promise<RaceResult>;
  formatRaceRow(row: RaceRow): string;
  formatRaceHeader(): string;
}

/** What the adapter uses of percpu/sim's race; the formatters are there once runRace streams. */
export type RaceModule = Pick<typeof sim, 'runRace' | 'DEFAULT_RACE_ROWS'> & Partial<Pick<StreamingRace, 'formatRaceRow' | 'formatRaceHeader'>>;

function streaming(module: RaceModule): module is RaceModule & StreamingRace {
  return typeof module.formatRaceRow === 'function' && typeof module.formatRaceHeader === 'function';
}

/** Runs the race, calling the hooks as it goes. */
export async function runRaceStreaming(options: RaceOptions, hooks: RaceStreamHooks, module: RaceModule = sim): Promise<RaceResult> {
  if (streaming(module)) return module.runRace({ ...options, ...hooks });
  return runRowByRow(options, hooks, module);
}

/** How rows and the header print. */
export function raceFormat(module: RaceModule = sim): RaceFormat {
  if (streaming(module)) {
    return { header: () => module.formatRaceHeader().split('\n'), row: (row) => module.formatRaceRow(row).split('\n') };
  }
  return { header: fallbackHeader, row: (row) => [fallbackRow(row)] };
}

// FALLBACK: for a runRace without hooks.

const SAFETY_KEYS = ['handlerChecks', 'tableChecks', 'checkFailures', 'violations', 'strays'] as const satisfies readonly (keyof RaceSafety)[];

/** A row as --rows takes it: scenario:method[:backend]. */
function rowName(spec: RaceRowSpec): string {
  return [spec.scenario, spec.method, ...(spec.backend === undefined ? [] : [spec.backend])].join(':');
}

/** One runRace per row: each row's report comes when it finishes. */
async function runRowByRow(options: RaceOptions, hooks: RaceStreamHooks, module: RaceModule): Promise<RaceResult> {
  const specs = options.rows ?? module.DEFAULT_RACE_ROWS;
  if (specs.length === 0) return module.runRace(options);
  const results: RaceResult[] = [];
  for (const [index, spec] of specs.entries()) {
    hooks.onProgress(`row ${index + 1} of ${specs.length}: ${rowName(spec)}`);
    const result = await module.runRace({ ...options, rows: [spec] });
    hooks.onRow(result.rows[0]!, index, specs.length);
    results.push(result);
  }
  const safety = Object.fromEntries(SAFETY_KEYS.map((key) => [key, results.reduce((n, r) => n + r.safety[key], 0)])) as unknown as RaceSafety;
  return { ...results[0]!, rows: results.flatMap((r) => r.rows), safety };
}

// row, backend, issued, found, lost, swaps, irqs, expected: result. 99 columns at most while the
// counts have at most 11 digits (half a minute per row of the gs loop here).
const COLUMNS: readonly Column[] = [
  { width: 18 },
  { width: 7 },
  { width: 11, right: true },
  { width: 11, right: true },
  { width: 8, right: true },
  { width: 6, right: true },
  { width: 6, right: true },
  { width: 18 },
];

function fallbackHeader(): string[] {
  return [tableLine(['row', 'backend', 'issued', 'found', 'lost', 'swaps', 'irqs', 'expected: result'], COLUMNS), tableRule(COLUMNS)];
}

function fallbackRow(row: RaceRow): string {
  const result = row.ok ? 'ok' : row.enough ? 'FAILED' : 'too few';
  const counts = [row.issued, row.found, row.lost, row.migrations, row.interrupts].map(String);
  return tableLine([`${row.scenario}:${row.method}`, row.backend, ...counts, `${row.expected}: ${result}`], COLUMNS);
}
