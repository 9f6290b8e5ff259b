/**
 * A race thread (lib/race.ts): binds its CPU, takes part in the scheduler, and runs one counting
 * loop per request, native or JS, replying with the updates it issued.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { serializeError, type SerializedError } from '../cpus/task';
import { loadSimulator, native } from '../core/native';
import { CpuGuard, getStaticPerCpu } from '../core/percpu';
import { bind, region, thisCpu, unbind } from '../core/region';
import { leaveScheduler, participate } from './scheduler';

export type RaceWorkerRequest =
  | {
      type: 'run';
      method: string;
      /** The native loop (native/scheduler.cc), for native methods. */
      loop?: number;
      /** A u64 static per-CPU variable. */
      counter: string;
      /** The loop ends when stop[0] becomes 1 (on a SharedArrayBuffer), or after maxMs. */
      stop: Int32Array;
      maxMs: number;
      windowNs: number;
      /** Interrupt handlers add to the same counter (as an interrupt handler doing this_cpu_add). */
      interrupts: boolean;
    }
  | { type: 'close' };

export type RaceWorkerReply =
  | { type: 'ready'; cpu: number; tid: number }
  | { type: 'done'; iterations: number; irqAdds: number }
  | { type: 'failed'; error: SerializedError };

const port = parentPort!;
const send = (reply: RaceWorkerReply) => port.postMessage(reply);

try {
  bind((workerData as { cpu: number }).cpu);
  participate();
  send({ type: 'ready', cpu: thisCpu()!, tid: native.sched.threadStats().tid });
} catch (error) {
  send({ type: 'failed', error: serializeError(error) });
  process.exit(1);
}

port.on('message', (request: RaceWorkerRequest) => {
  if (request.type === 'close') {
    leaveScheduler();
    unbind();
    port.close();
    return;
  }
  try {
    send({ type: 'done', ...run(request) });
  } catch (error) {
    native.sched.irqAction(null);
    send({ type: 'failed', error: serializeError(error) });
  }
});

/**
 * The longest a native loop runs before it comes back to JS: a worker that is terminated (its
 * parent's teardown, or worker.terminate()) ends at its next JS instruction, and native code
 * cannot be interrupted, so this bounds how long termination waits, whatever the stop flag says.
 */
const NATIVE_SLICE_MS = 20;

function run(request: Extract<RaceWorkerRequest, { type: 'run' }>): { iterations: number; irqAdds: number } {
  const { stop } = request;
  if (request.loop !== undefined) {
    const sim = loadSimulator();
    const end = performance.now() + request.maxMs;
    let iterations = 0, irqAdds = 0;
    do {
      const slice = Math.min(NATIVE_SLICE_MS, Math.max(0, end - performance.now()));
      const done = sim.raceLoop(request.loop, request.counter, stop, slice, request.windowNs);
      iterations += done.iterations;
      irqAdds += done.irqAdds;
    } while (Atomics.load(stop, 0) === 0 && performance.now() < end);
    return { iterations, irqAdds };
  }
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
