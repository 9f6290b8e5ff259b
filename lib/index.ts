/**
 * percpu: Linux kernel per-CPU variables for Node.js. Worker threads stand in for CPUs; numeric
 * ops are single GS-segment-relative x86-64 instructions (the gs backend), or this CPU's pointer
 * then the plain op (the generic backend, anywhere).
 */
export * from './errors';
export { NUMERIC_TYPES, typeInfo, wrap } from './types';
export type { NumericType, BigNumericType, ValueOf, TypeInfo } from './types';
export { fastPath } from './native';
export type { FastPathInfo } from './native';
export { setup, region, bind, unbind, thisCpu, stats, describeBackend, BACKENDS, DEFAULT_AREA_SIZE } from './region';
export type { RegionOptions, RegionInfo, AllocatorStats, BackendChoice, BackendName } from './region';
export {
  CpuGuard,
  PerCpuToken,
  PerCpuVariable,
  StaticPerCpu,
  DynamicPerCpu,
  NUMERIC_OPS,
  NUMERIC_OP_TABLE,
  definePerCpu,
  getStaticPerCpu,
  revive,
  isSharedPerCpu,
} from './percpu';
export type { Slot, PerCpuNumeric, NumericOp, SharedPerCpu } from './percpu';
export { PerCpuPair, revivePair, isSharedPerCpuPair } from './pair';
export type { U64Pair, SharedPerCpuPair } from './pair';
export { CpuSet } from './cpuset';
export type { CpuSetOptions, CloseOptions, CloseReport, AbandonedTask } from './cpuset';
export { task } from './task';
export type { Task, TaskArgs } from './task';
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
  raceExpectation,
  raceOk,
  DEFAULT_RACE_ROWS,
  RACE_METHODS,
  RACE_SCENARIOS,
} from './race';
export type { RaceOptions, RaceResult, RaceRow, RaceRowSpec, RaceMethod, RaceScenario, RaceExpectation, RaceSafety } from './race';
