/**
 * What the benchmark processes share: the addon's benchmark exports, the methods measured, the
 * shape of the results, a start barrier and statistics.
 */
import { native, type NativeHandle } from '../lib/native';
import type { PerCpuVariable } from '../lib';
import type { NumericType } from '../lib';

/** native/bench.cc, as `exports.bench`. */
export interface NativeBench {
  /** Loop method -> the symbol of its noinline loop function (gs is absent where the build has no GS). */
  loops: Record<string, string>;
  /** Runs a loop `iterations` times on this CPU: its start and end (CLOCK_MONOTONIC ns) and the thread's CPU time. */
  loop(method: NativeMethod, handle: NativeHandle, iterations: number): Timing;
  /** This thread's CPU time, ns. */
  threadCpuNs(): bigint;
  sharedCounter(): bigint;
  resetSharedCounter(): void;
  /** Call-path experiments bound to a u32 or u64 handle (see native/bench.cc). */
  callVariants(handle: NativeHandle): Record<string, (value?: number | bigint) => void>;
}

export const nativeBench = (native as unknown as { bench: NativeBench }).bench;

/** The addon's handle behind a variable (the benchmarks pass handles, never offsets). */
export function handleOf(variable: PerCpuVariable<NumericType>): NativeHandle {
  return (variable as unknown as { handle: NativeHandle }).handle;
}

// ---------------------------------------------------------------- methods
export type Backend = 'gs' | 'generic';
export type Group = 'native' | 'js' | 'read' | 'experiment';

export const NATIVE_METHODS = ['empty', 'gs', 'generic', 'lockOwn', 'lockShared'] as const;
export type NativeMethod = (typeof NATIVE_METHODS)[number];

/** JS methods, each a loop compiled on its own (bench/tasks.ts). numAdd* run on the process's backend. */
export const JS_METHODS = ['empty', 'numAdd', 'numAdd64', 'atomicsShared', 'atomicsOwn', 'plainOwn'] as const;
export type JsMethod = (typeof JS_METHODS)[number];

/** Measured on 1, 2, ... N CPUs and charted: "group.method" (the others on 1 and N only). */
export const SCALING_METHODS = ['native.empty', 'native.gs', 'native.generic', 'native.lockShared', 'js.numAdd', 'js.atomicsShared'] as const;

export const READ_METHODS = ['empty', 'sum64', 'sum32', 'readRemote64'] as const;
export type ReadMethod = (typeof READ_METHODS)[number];

/** The call-path experiments: the addon's real calls, then the variants of native/bench.cc. */
export const EXPERIMENTS = [
  'emptyCall',
  'numAdd',
  'numInc',
  'napiEmpty',
  'napiArg',
  'napiArgUnconverted',
  'napiNoArg',
  'napiUint32',
  'v8Empty',
  'v8Add',
  'v8NoArg',
  'numAdd64',
  'numInc64',
  'napiArg64',
  'napiArgUnconverted64',
  'napiNoArg64',
  'v8Add64',
  'v8NoArg64',
] as const;
export type Experiment = (typeof EXPERIMENTS)[number];

export const LABELS: Record<string, string> = {
  'native.empty': 'empty loop (the loop itself)',
  'native.gs': 'gs: add %reg,%gs:(off)',
  'native.generic': 'generic: this_cpu_ptr, load, add, store',
  'native.lockOwn': 'lock add on own slot',
  'native.lockShared': 'lock add on one shared counter',
  'js.empty': 'empty raw Node-API call (the floor)',
  'js.numAdd': 'num().add(1) on a u32',
  'js.numAdd64': 'num().add(1n) on a u64',
  'js.atomicsShared': 'Atomics.add, one shared counter',
  'js.atomicsOwn': 'Atomics.add, per-worker slots',
  'js.plainOwn': 'typed-array ++, per-worker slot',
  'read.empty': 'empty raw Node-API call (the floor)',
  'read.sum64': 'sum() of a u64 over all CPUs',
  'read.sum32': 'sum() of a u32 over all CPUs',
  'read.readRemote64': 'readRemote(1) of a u64',
  'experiment.emptyCall': 'addon emptyCall (the floor)',
  'experiment.numAdd': 'num().add(1) (V8 fast path, fast_ops.h)',
  'experiment.numInc': 'num().inc() (V8 fast path), no operand',
  'experiment.napiEmpty': 'napi: empty callback',
  'experiment.napiArg': 'napi: cb_info(arg,data) + get_value_double',
  'experiment.napiArgUnconverted': 'napi: cb_info(arg,data), no conversion',
  'experiment.napiNoArg': 'napi: inc(), cb_info(data) only',
  'experiment.napiUint32': 'napi: cb_info + get_value_uint32 (inexact)',
  'experiment.v8Empty': 'V8 API: empty callback',
  'experiment.v8Add': 'V8 API: add, IsInt32 fast path + napi fallback',
  'experiment.v8NoArg': 'V8 API: inc()',
  'experiment.numAdd64': 'num().add(1n) on u64 (V8 fast path)',
  'experiment.numInc64': 'num().inc() on u64 (V8 fast path)',
  'experiment.napiArg64': 'napi u64: cb_info + get_value_bigint_uint64',
  'experiment.napiArgUnconverted64': 'napi u64: cb_info(arg,data), no conversion',
  'experiment.napiNoArg64': 'napi u64: inc()',
  'experiment.v8Add64': 'V8 API u64: IsBigInt fast path + napi fallback',
  'experiment.v8NoArg64': 'V8 API u64: inc()',
};

// ---------------------------------------------------------------- results
/** One timed run of one method on `threads` CPUs at once. */
export interface Sample {
  group: Group;
  method: string;
  backend: Backend;
  threads: number;
  /** Which child process and which round inside it: samples of one (child, round) are one run. */
  child: number;
  round: number;
  /** Ops per thread. */
  ops: number;
  /** Median over the threads of each thread's ns per op. */
  nsPerOp: number;
  /** Aggregate: all threads' ops over the wall time from the first start to the last end. */
  opsPerSec: number;
  /** The threads' CPU time over that wall time: how many cores the run really got (at most `threads`). */
  cores: number;
}

/** A counter the loops incremented, against the number of increments made. */
export interface CounterCheck {
  name: string;
  backend: Backend;
  /** By CPU (one value for a counter shared by all), as decimal strings; a u32 wraps like the machine. */
  expected: string[];
  actual: string[];
  exact: boolean;
}

/** What a child process reports (as JSON, in a file the parent names). */
export interface ChildResult {
  backend: Backend;
  backendDescription: string;
  cpus: number;
  samples: Sample[];
  counters: CounterCheck[];
}

/** The child's instructions, as one JSON argument. */
export interface ChildConfig {
  child: number;
  backend: Backend;
  /** The primary process measures everything; the secondary only its backend's num().add(). */
  primary: boolean;
  cpus: number;
  rounds: number;
  quick: boolean;
  /** Target wall time of one sample, ms (calibrated per method); quick mode uses fixed counts. */
  sampleMs: number;
  out: string;
}

// ---------------------------------------------------------------- start barrier
/** One thread's run: start and end (CLOCK_MONOTONIC, the same clock in every thread) and its CPU time, ns. */
export type Timing = [start: bigint, end: bigint, cpu: bigint];

/** A barrier for `parties` threads: a fresh Int32Array(2) on a SharedArrayBuffer per run. */
export function newGate(): SharedArrayBuffer {
  return new SharedArrayBuffer(8);
}

/**
 * Waits until `parties` threads have arrived, then all go at once: spins on the release flag so
 * that nobody pays a wake-up, falling back to Atomics.wait after a while (more threads than cores).
 */
export function arriveAndWait(gate: SharedArrayBuffer, parties: number): void {
  const g = new Int32Array(gate);
  if (Atomics.add(g, 0, 1) + 1 === parties) {
    Atomics.store(g, 1, 1);
    Atomics.notify(g, 1);
    return;
  }
  const deadline = Date.now() + 60_000;
  for (let spin = 0; Atomics.load(g, 1) === 0; spin++) {
    if (spin > 200_000) {
      Atomics.wait(g, 1, 0, 1);
      if (Date.now() > deadline) throw new Error(`start barrier: ${Atomics.load(g, 0)} of ${parties} threads arrived in 60 s`);
    }
  }
}

// ---------------------------------------------------------------- statistics
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** One run across threads: per-thread timings for `ops` ops each. */
export function summarize(times: Timing[], ops: number): { nsPerOp: number; opsPerSec: number; cores: number } {
  const first = times.reduce((m, [s]) => (s < m ? s : m), times[0]![0]);
  const last = times.reduce((m, [, e]) => (e > m ? e : m), times[0]![1]);
  const wall = Math.max(1, Number(last - first));
  return {
    nsPerOp: median(times.map(([s, e]) => Number(e - s) / Math.max(1, ops))),
    opsPerSec: (ops * times.length * 1e9) / wall,
    cores: times.reduce((sum, [, , cpu]) => sum + Number(cpu), 0) / wall,
  };
}
