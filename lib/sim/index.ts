/**
 * percpu/sim: preemption, migration and local interrupts, simulated for real on the threads of a
 * process (the scheduler, CpuGuard's and IrqGuard's effect on it), and the race demo that shows
 * what they do to the gs and generic per-CPU paths (`npx percpu race`). See docs/simulator.md.
 */
export {
  startScheduler,
  stopScheduler,
  schedulerStats,
  participate,
  leaveScheduler,
  isParticipating,
  threadSchedulerStats,
  IrqGuard,
} from './scheduler';
export type { SchedulerOptions, SchedulerStats, ThreadSchedulerStats } from './scheduler';
export {
  runRace,
  formatRaceTable,
  formatRaceHeader,
  formatRaceRow,
  formatRaceLegend,
  RACE_TABLE_WIDTH,
  raceExpectation,
  raceOk,
  DEFAULT_RACE_ROWS,
  RACE_METHODS,
  RACE_SCENARIOS,
} from './race';
export type { RaceOptions, RaceResult, RaceRow, RaceRowSpec, RaceMethod, RaceScenario, RaceExpectation, RaceSafety } from './race';
