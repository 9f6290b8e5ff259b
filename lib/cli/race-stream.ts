/**
 * The race, row by row, for `percpu race`: percpu/sim's runRace with its onRow and onProgress hooks
 * (each row reported as it finishes, progress as it goes) and its formatters (lines of at most 100
 * columns). The module is a parameter so that the tests can give a stand-in.
 */
import * as sim from '../sim';
import type { RaceOptions, RaceResult, RaceRow } from '../sim';

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

/** What the command uses of percpu/sim's race. */
export type RaceModule = Pick<typeof sim, 'runRace' | 'formatRaceRow' | 'formatRaceHeader'>;

/** Runs the race, calling the hooks as it goes. */
export function runRaceStreaming(options: RaceOptions, hooks: RaceStreamHooks, module: RaceModule = sim): Promise<RaceResult> {
  return module.runRace({ ...options, ...hooks });
}

/** How rows and the header print. */
export function raceFormat(module: RaceModule = sim): RaceFormat {
  return { header: () => module.formatRaceHeader().split('\n'), row: (row) => module.formatRaceRow(row).split('\n') };
}
