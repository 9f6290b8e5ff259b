/**
 * What each CPU of a benchmark process runs (tasks of bench/child.ts's CpuSet, the main thread
 * being CPU 0). Every JS method is a loop compiled on its own (new Function), so each has its own
 * call site and type feedback, as a hand-written loop would; a thread compiles its loops once and
 * reuses them across rounds.
 */
import { Counter, Registry } from 'prom-client';
import { definePerCpu, thisCpu, type StaticPerCpu } from '../lib';
import { arriveAndWait, fastFloor, handleOf, nativeBench, type JsMethod, type NativeMethod, type Timing } from './common';

/** The shared words (Uint32Array over a SharedArrayBuffer): one shared counter, then per-CPU slots, 128 bytes apart. */
export const SLOT_STRIDE = 32;
export const sharedWordsBytes = (cpus: number): number => (1 + 2 * cpus) * SLOT_STRIDE * 4;
export const SHARED_INDEX = 0;
export const ownIndex = (cpu: number): number => (1 + cpu) * SLOT_STRIDE;
export const plainIndex = (cpu: number, cpus: number): number => (1 + cpus + cpu) * SLOT_STRIDE;

/** The static variables the methods count in: the same offsets on every thread. */
export function counters() {
  return {
    js32: definePerCpu('bench.js.numAdd', 'u32', 0),
    js64: definePerCpu('bench.js.numAdd64', 'u64', 0n),
    jsInc: definePerCpu('bench.js.numInc', 'u32', 0),
    gs: definePerCpu('bench.native.gs', 'u64', 0n),
    generic: definePerCpu('bench.native.generic', 'u64', 0n),
    lockOwn: definePerCpu('bench.native.lockOwn', 'u64', 0n),
    exp32: definePerCpu('bench.experiment.u32', 'u32', 0),
    exp64: definePerCpu('bench.experiment.u64', 'u64', 0n),
  };
}

export type Loop = (n: number) => void;

/**
 * A loop of `n` runs of `body` over the named constants, compiled on its own: `name` is in the
 * source, because V8 caches compilations by source text and two loops of the same text would
 * share one call site's feedback (and deoptimize each other).
 */
export function compile(name: string, body: string, constants: Record<string, unknown>): Loop {
  const names = Object.keys(constants);
  const source = `return function loop_${name.replace(/\W/g, '_')}(n) { for (let i = 0; i < n; i++) { ${body}; } };`;
  const make = new Function(...names, source);
  return make(...names.map((k) => constants[k])) as Loop;
}

interface State {
  cpu: number;
  native: Record<NativeMethod, StaticPerCpu<'u64'>>;
  js: Record<JsMethod, Loop>;
  /** This CPU's prom-client counter, in a registry of its own (as a worker of a service keeps one). */
  prom: Counter;
}
let state: State | undefined;

/** Defines the counters and compiles this thread's JS loops. Returns this CPU's number. */
export function prepare(words: SharedArrayBuffer, cpus: number): number {
  const cpu = thisCpu();
  if (cpu === null) throw new Error('prepare() runs on a CPU');
  const c = counters();
  const a = new Uint32Array(words);
  const prom = new Counter({ name: 'bench_updates_total', help: 'updates counted by the benchmark', registers: [new Registry()] });
  state = {
    cpu,
    prom,
    // empty and lockShared touch no slot; the addon still checks the handle and the binding.
    native: { empty: c.gs, gs: c.gs, generic: c.generic, lockOwn: c.lockOwn, lockShared: c.gs },
    js: {
      empty: compile('js.empty', 'f(1)', { f: nativeBench.emptyCall }),
      // Called as num()'s ops are, through a property of an object; planned only where fastFloor loads.
      emptyFast: compile('js.emptyFast', 'o.add(1)', { o: { add: fastFloor?.makeEmptyFast() } }),
      numAdd: compile('js.numAdd', 'v.num().add(1)', { v: c.js32 }),
      numAdd64: compile('js.numAdd64', 'v.num().add(1n)', { v: c.js64 }),
      numInc: compile('js.numInc', 'v.num().inc()', { v: c.jsInc }),
      atomicsShared: compile('js.atomicsShared', `Atomics.add(a, ${SHARED_INDEX}, 1)`, { a }),
      atomicsOwn: compile('js.atomicsOwn', `Atomics.add(a, ${ownIndex(cpu)}, 1)`, { a }),
      promInc: compile('js.promInc', 'c.inc()', { c: prom }),
      plainOwn: compile('js.plainOwn', `a[${plainIndex(cpu, cpus)}]++`, { a: new Int32Array(words) }),
    },
  };
  return cpu;
}

function prepared(): State {
  if (state === undefined) throw new Error('prepare() has not run on this CPU');
  return state;
}

/** Times `loop(n)` on this thread: wall clock and CPU time. */
export function timeLoop(loop: Loop, n: number): Timing {
  const cpu = nativeBench.threadCpuNs();
  const start = process.hrtime.bigint();
  loop(n);
  const end = process.hrtime.bigint();
  return [start, end, nativeBench.threadCpuNs() - cpu];
}

/** Runs JS method `method` `calls` times once `parties` threads are at the gate. */
export function runJs(method: JsMethod, calls: number, gate: SharedArrayBuffer, parties: number): Timing {
  const loop = prepared().js[method];
  arriveAndWait(gate, parties);
  return timeLoop(loop, calls);
}

/** What this CPU's prom-client counter holds. */
export async function promCount(): Promise<number> {
  const metric = await prepared().prom.get();
  return metric.values[0]?.value ?? 0;
}

/** Runs the native loop `method` `iterations` times once `parties` threads are at the gate. */
export function runNative(method: NativeMethod, iterations: number, gate: SharedArrayBuffer, parties: number): Timing {
  const variable = prepared().native[method];
  arriveAndWait(gate, parties);
  return nativeBench.loop(method, handleOf(variable), iterations);
}
