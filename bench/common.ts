/**
 * What the benchmark processes share: the addon's benchmark exports, the methods measured, the
 * shape of the results, a start barrier and statistics.
 */
import * as path from 'node:path';
import { nativeErrorClasses } from '../lib/core/errors';
import { addonPath, PACKAGE_ROOT, type NativeHandle } from '../lib/core/native';
import type { PerCpuVariable } from '../lib';
import type { NumericType } from '../lib';

/** percpu_bench.node (native/bench/bench_loops.cc), a module of its own, attached to the binding in use. */
export interface NativeBench {
  init(errorClasses: object): void;
  attach(bindingPath: string): void;
  /** Loop method -> the symbol of its noinline loop function (gs is absent where the build has no GS). */
  loops: Record<string, string>;
  /** Runs a loop `iterations` times on this CPU: its start and end (CLOCK_MONOTONIC ns) and the thread's CPU time. */
  loop(method: NativeMethod, handle: NativeHandle, iterations: number): Timing;
  /** This thread's CPU time, ns. */
  threadCpuNs(): bigint;
  sharedCounter(): bigint;
  resetSharedCounter(): void;
  /** The floor of every call-path ratio: a raw Node-API call that does nothing. */
  emptyCall(...args: unknown[]): void;
}

/** The benchmark module (built by `npm test` and `npm run bench`); PERCPU_BENCH_ADDON names another build. */
export const BENCH_ADDON =
  process.env['PERCPU_BENCH_ADDON'] || path.join(PACKAGE_ROOT, 'native', 'bench', 'build', 'Release', 'percpu_bench.node');

function loadBench(): NativeBench {
  const bench = require(BENCH_ADDON) as NativeBench;
  bench.init(nativeErrorClasses);
  bench.attach(addonPath);
  return bench;
}

export const nativeBench = loadBench();

/** percpu_bench_fast.node (native/bench/fast_floor.cc): the floor of a V8 fast API call, built per Node ABI. */
export interface FastFloor {
  /** Whether this build declares fast calls for the running V8 (else emptyFast is an ordinary V8 API function). */
  fastCalls: boolean;
  /** A new function made as an accelerator op is (holder signature, bound), whose fast C function does nothing. */
  makeEmptyFast(): (value: unknown) => void;
  /** This thread's calls that did not run in the fast C function. */
  slowCalls(): bigint;
}

/** The fast-call floor module for this Node (PERCPU_BENCH_FAST_ADDON names another build), or null when there is none for it. */
export const BENCH_FAST_ADDON =
  process.env['PERCPU_BENCH_FAST_ADDON'] || path.join(PACKAGE_ROOT, 'native', 'bench', 'build', 'Release', 'percpu_bench_fast.node');

function loadFastFloor(): FastFloor | null {
  try {
    return require(BENCH_FAST_ADDON) as FastFloor;
  } catch {
    return null; // built for another Node ABI, or not built: the row is left out
  }
}

export const fastFloor = loadFastFloor();

/** The addon's handle behind a variable (the benchmarks pass handles, never offsets). */
export function handleOf(variable: PerCpuVariable<NumericType>): NativeHandle {
  return (variable as unknown as { handle: NativeHandle }).handle;
}

// ---------------------------------------------------------------- methods
export type Backend = 'gs' | 'generic';
export type Group = 'native' | 'js' | 'read' | 'experiment';

export const NATIVE_METHODS = ['empty', 'gs', 'generic', 'lockOwn', 'lockShared'] as const;
export type NativeMethod = (typeof NATIVE_METHODS)[number];

/**
 * JS methods, each a loop compiled on its own (bench/tasks.ts): the table of ways to count
 * from JS, in its order. num*() run on the process's backend; every process measures them all, so
 * each backend has its own ratios, taken in its own runs.
 */
export const JS_METHODS = ['empty', 'emptyFast', 'numAdd', 'numAdd64', 'numInc', 'atomicsShared', 'atomicsOwn', 'promInc', 'plainOwn'] as const;
export type JsMethod = (typeof JS_METHODS)[number];

/** Measured on 1, 2, ... N CPUs and charted: "group.method" (the others on 1 and N only). */
export const SCALING_METHODS = ['native.empty', 'native.gs', 'native.generic', 'native.lockShared', 'js.numAdd', 'js.atomicsShared'] as const;

export const READ_METHODS = ['empty', 'sum64', 'sum32', 'readRemote64'] as const;
export type ReadMethod = (typeof READ_METHODS)[number];

/**
 * The call paths of num(): each op through the accelerator (the V8 fast path, when this Node has
 * one) and through the binding's Node-API callbacks, in the same process, against the empty call.
 */
export const EXPERIMENTS = [
  'emptyCall',
  'numAdd',
  'numAddNapi',
  'numInc',
  'numIncNapi',
  'numAdd64',
  'numAdd64Napi',
  'numInc64',
  'numInc64Napi',
] as const;
export type Experiment = (typeof EXPERIMENTS)[number];

export const LABELS: Record<string, string> = {
  'native.empty': 'empty loop (the loop itself)',
  'native.gs': 'gs: add %reg,%gs:(off)',
  'native.generic': 'generic: this_cpu_ptr, load, add, store',
  'native.lockOwn': 'lock add on own slot',
  'native.lockShared': 'lock add on one shared counter',
  'js.empty': 'empty raw Node-API call (the floor)',
  'js.emptyFast': 'empty V8 fast API call (an op\'s floor)',
  'js.numAdd': 'num().add(1) on a u32',
  'js.numAdd64': 'num().add(1n) on a u64',
  'js.numInc': 'num().inc() on a u32',
  'js.atomicsShared': 'Atomics.add, one shared counter',
  'js.atomicsOwn': 'Atomics.add, per-worker padded slot',
  'js.promInc': 'prom-client Counter.inc(), a registry per worker',
  'js.plainOwn': 'Int32Array ++, per-worker padded slot',
  'read.empty': 'empty raw Node-API call (the floor)',
  'read.sum64': 'sum() of a u64 over all CPUs',
  'read.sum32': 'sum() of a u32 over all CPUs',
  'read.readRemote64': 'readRemote(1) of a u64',
  'experiment.emptyCall': 'empty raw Node-API call (the floor)',
  'experiment.numAdd': 'num().add(1) on a u32, accelerator',
  'experiment.numAddNapi': 'num().add(1) on a u32, Node-API',
  'experiment.numInc': 'num().inc() on a u32, accelerator',
  'experiment.numIncNapi': 'num().inc() on a u32, Node-API',
  'experiment.numAdd64': 'num().add(1n) on a u64, accelerator',
  'experiment.numAdd64Napi': 'num().add(1n) on a u64, Node-API',
  'experiment.numInc64': 'num().inc() on a u64, accelerator',
  'experiment.numInc64Napi': 'num().inc() on a u64, Node-API',
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
  /** Only the call paths from JS (the js group on 1 and all CPUs, and the call-path experiments). */
  callPathOnly: boolean;
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
