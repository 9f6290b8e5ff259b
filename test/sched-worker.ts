// A worker for the scheduler tests: binds a CPU (or not) and takes part in the scheduler (or not),
// then does what each request says. A spin runs until the parent sets its stop flag, so tests
// wait for counts, never for time.
import { parentPort, workerData } from 'node:worker_threads';
import { CpuGuard, bind, definePerCpu, thisCpu, unbind } from '../lib';
import { IrqGuard, participate, threadSchedulerStats, type ThreadSchedulerStats } from '../lib/sim';
import { native } from '../lib/core/native';

export interface SchedWorkerData {
  cpu: number | null;
  participate: boolean;
  /** Int32Array: [0] the parent sets 1 to end a spin, [1] the worker sets 1 once a spin is under way. */
  flags: SharedArrayBuffer;
}

export type SpinMode = 'plain' | 'guard' | 'irqoff' | 'count';

export type SchedWorkerRequest = { type: 'spin'; mode: SpinMode } | { type: 'state' } | { type: 'unbind' } | { type: 'exit' };

export interface SchedWorkerState {
  type: 'state';
  cpu: number | null;
  gsBase: string | null;
  stats: ThreadSchedulerStats;
}

export interface SpinReply {
  type: 'spun';
  /** The CPUs thisCpu() read during the spin (inside the guard, for 'guard'), in order of first sight. */
  seen: number[];
  /** This thread's counters when the spin (its guard) began and just before it ended. */
  before: ThreadSchedulerStats;
  end: ThreadSchedulerStats;
  /** After the IrqGuard's release ('irqoff'). */
  afterRelease: ThreadSchedulerStats | null;
  /** 'count': adds made with num().add(1n) to the static 'sched.test.count'. */
  adds: number;
}

export type SchedWorkerReply = { type: 'ready'; cpu: number | null; tid: number } | SchedWorkerState | SpinReply | { type: 'unbound' };

const port = parentPort!;
const data = workerData as SchedWorkerData;
const flags = new Int32Array(data.flags);
const send = (reply: SchedWorkerReply) => port.postMessage(reply);

if (data.cpu !== null) bind(data.cpu);
if (data.participate) participate();
send({ type: 'ready', cpu: thisCpu(), tid: threadSchedulerStats().tid });

function spin(mode: SpinMode): SpinReply {
  const seen = new Set<number>();
  let adds = 0;
  const guard = mode === 'guard' ? new CpuGuard() : null;
  const irqs = mode === 'irqoff' ? new IrqGuard() : null;
  const counter = mode === 'count' ? definePerCpu('sched.test.count', 'u64', 0n).num() : null;
  const before = threadSchedulerStats();
  Atomics.store(flags, 1, 1);
  while (Atomics.load(flags, 0) === 0) {
    for (let i = 0; i < 64; i++) {
      const cpu = thisCpu();
      if (cpu !== null) seen.add(cpu);
      if (counter) {
        counter.add(1n);
        adds++;
      }
    }
  }
  const end = threadSchedulerStats();
  guard?.release();
  irqs?.release();
  Atomics.store(flags, 1, 0);
  return { type: 'spun', seen: [...seen], before, end, afterRelease: irqs ? threadSchedulerStats() : null, adds };
}

port.on('message', (request: SchedWorkerRequest) => {
  switch (request.type) {
    case 'spin':
      send(spin(request.mode));
      break;
    case 'state': {
      const base = native.gsBase();
      send({ type: 'state', cpu: thisCpu(), gsBase: base === null ? null : String(base), stats: threadSchedulerStats() });
      break;
    }
    case 'unbind':
      unbind(); // leaves the scheduler first
      send({ type: 'unbound' });
      break;
    case 'exit':
      process.exit(0); // the thread ends bound and taking part: its cleanup hook leaves and unbinds
  }
});
