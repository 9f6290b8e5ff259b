/**
 * The race's tasks (./race.ts), run on the worker CPUs of a CpuSet that leaves the main thread
 * out: each CPU joins the scheduler, then runs one counting loop per row, native or JS, and
 * returns the updates it issued.
 */
import { loadSimulator, native } from '../core/native';
import { CpuGuard, getStaticPerCpu } from '../core/percpu';
import { region, thisCpu } from '../core/region';
import { participate } from './scheduler';

/** One row's loop, as every CPU runs it. */
export interface RaceLoop {
  readonly method: string;
  /** The native loop (native/sim/race_loops.cc RaceMethod), for native methods. */
  readonly loop?: number;
  /** A u64 static per-CPU variable. */
  readonly counter: string;
  /** The loop ends when stop[0] becomes 1 (on a SharedArrayBuffer), or after maxMs. */
  readonly stop: Int32Array;
  readonly maxMs: number;
  readonly windowNs: number;
  /** Interrupt handlers add to the same counter (as an interrupt handler doing this_cpu_add). */
  readonly interrupts: boolean;
}

/** The updates one CPU issued: its loop's, and its interrupt handler's. */
export interface RaceCount {
  readonly iterations: number;
  readonly irqAdds: number;
}

/** Takes part in the scheduler from now on (the set's close() takes it out as it unbinds). */
export function joinScheduler(): void {
  participate();
}

/**
 * The longest a native loop runs before it comes back to JS: a worker that is terminated (its
 * parent's teardown, or worker.terminate()) ends at its next JS instruction, and native code
 * cannot be interrupted, so this bounds how long termination waits, whatever the stop flag says.
 */
const NATIVE_SLICE_MS = 20;

export function count(request: RaceLoop): RaceCount {
  try {
    return request.loop === undefined ? countInJs(request) : countNatively(request, request.loop);
  } finally {
    native.sched.irqAction(null);
  }
}

function countNatively(request: RaceLoop, loop: number): RaceCount {
  const { stop } = request;
  const sim = loadSimulator();
  const end = performance.now() + request.maxMs;
  let iterations = 0, irqAdds = 0;
  do {
    const slice = Math.min(NATIVE_SLICE_MS, Math.max(0, end - performance.now()));
    const done = sim.raceLoop(loop, request.counter, stop, slice, request.windowNs);
    iterations += done.iterations;
    irqAdds += done.irqAdds;
  } while (Atomics.load(stop, 0) === 0 && performance.now() < end);
  return { iterations, irqAdds };
}

function countInJs(request: RaceLoop): RaceCount {
  const { stop } = request;
  const counter = getStaticPerCpu(request.counter, 'u64');
  // The interrupt handler's add: a gs instruction on gs, a raw generic add otherwise.
  native.sched.irqAction(request.interrupts ? request.counter : null, region()!.backend);
  const end = performance.now() + request.maxMs;
  const going = () => Atomics.load(stop, 0) === 0 && performance.now() < end;
  let iterations = 0;
  switch (request.method) {
    case 'js-add': {
      const add = counter.num().add;
      while (going()) {
        for (let i = 0; i < 64; i++) add(1n);
        iterations += 64;
      }
      break;
    }
    case 'js-rmw':
      while (going()) {
        for (let i = 0; i < 16; i++) {
          const cpu = thisCpu()!; // this_cpu_ptr() ...
          counter.writeRemote(cpu, counter.readRemote(cpu) + 1n); // ... then the read and the write
        }
        iterations += 16;
      }
      break;
    case 'js-guard':
      // As much time outside the guard as inside, so that swaps have somewhere to land (the
      // native loops do the same): a thread that always held a guard would simply never move.
      while (going()) {
        const start = performance.now();
        const guard = new CpuGuard();
        try {
          counter.getMut(guard).with((slot) => {
            slot.value += 1n;
          });
        } finally {
          guard.release();
        }
        const held = performance.now() - start;
        const until = performance.now() + held;
        while (performance.now() < until);
        iterations++;
      }
      break;
    default:
      throw new Error(`no JS race loop named ${request.method}`);
  }
  return { iterations, irqAdds: native.sched.irqAction(null) };
}
