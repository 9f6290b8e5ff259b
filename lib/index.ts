/**
 * percpu: Linux kernel per-CPU variables for Node.js. Worker threads stand in for CPUs; numeric
 * ops are single GS-segment-relative x86-64 instructions (the gs backend), or this CPU's pointer
 * then the plain op (the generic backend, anywhere).
 *
 * The main entry is the library. The simulator (preemption, migration and interrupts, and the race
 * demo) is `percpu/sim`; the metrics are `percpu/metrics`.
 */
export * from './core/errors';
export { NUMERIC_TYPES, typeInfo, wrap } from './core/types';
export type { NumericType, BigNumericType, ValueOf, TypeInfo } from './core/types';
export { fastPath } from './core/native';
export type { FastPathInfo } from './core/native';
export { setup, region, bind, unbind, thisCpu, stats, describeBackend, BACKENDS, DEFAULT_AREA_SIZE } from './core/region';
export type { RegionOptions, RegionInfo, AllocatorStats, BackendChoice, BackendName } from './core/region';
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
} from './core/percpu';
export type { Slot, PerCpuNumeric, NumericOp, SharedPerCpu } from './core/percpu';
export { PerCpuPair, revivePair, isSharedPerCpuPair } from './core/pair';
export type { U64Pair, SharedPerCpuPair } from './core/pair';
export { CpuSet } from './cpus/cpuset';
export type { CpuSetOptions, CpuWorkerOptions, CloseOptions, CloseReport, AbandonedTask } from './cpus/cpuset';
export { task, tasks } from './cpus/task';
export type { Task, TaskArgs, TaskName, TaskOf, Tasks } from './cpus/task';
export { claimCpu, releaseCpu } from './cpus/claim';
