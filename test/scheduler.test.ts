/**
 * The scheduler (native/core/scheduler.cc): it swaps the CPUs of participating bound threads with a
 * signal at arbitrary instruction boundaries, never leaving two threads on one CPU; a CpuGuard holds
 * off migration; IrqGuard holds off interrupts; threads that unbind, exit or are terminated in the
 * middle of a migration leave safely; threads that do not take part are never signalled. Tests wait
 * for counts (swaps made, signals sent), never for time. Runs on whichever backend the suite runs.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { BackendUnavailableError, ConflictError, CpuTakenError, GuardError, NotBoundError, PerCpuRangeError, PerCpuTypeError, bind, definePerCpu, region, unbind } from '../lib';
import { IrqGuard, participate, schedulerStats, startScheduler, stopScheduler, type SchedulerStats } from '../lib/sim';
import { loadSimulator, native } from '../lib/core/native';
import { ALL_CPUS, TEST_CPUS, assertThrowsCode } from './helpers';
import type { SchedWorkerData, SchedWorkerReply, SchedWorkerRequest, SchedWorkerState, SpinMode, SpinReply } from './sched-worker';

const SCHED_WORKER = path.join(__dirname, 'sched-worker.js');
const LIB = path.join(__dirname, '..', 'lib');
const SIM = path.join(LIB, 'sim');

/** Polls `condition` every few milliseconds until it holds. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** The scheduler's counters since `before`. */
function since(before: SchedulerStats): SchedulerStats {
  const now = schedulerStats();
  return Object.fromEntries(
    Object.entries(now).map(([key, value]) => [key, typeof value === 'number' ? value - (before[key as keyof SchedulerStats] as number) : value]),
  ) as unknown as SchedulerStats;
}

/** A sched-worker thread, driven by requests; its spins end when told to. */
class TestThread {
  readonly flags = new Int32Array(new SharedArrayBuffer(8));
  readonly worker: Worker;
  readonly exited: Promise<number>;
  #replies: SchedWorkerReply[] = [];
  #waiting: ((reply: SchedWorkerReply) => void) | undefined;
  tid = 0;
  startCpu: number | null = null;

  constructor(cpu: number | null, takePart: boolean) {
    const data: SchedWorkerData = { cpu, participate: takePart, flags: this.flags.buffer as SharedArrayBuffer };
    this.worker = new Worker(SCHED_WORKER, { workerData: data });
    this.worker.on('message', (reply: SchedWorkerReply) => {
      const waiting = this.#waiting;
      this.#waiting = undefined;
      if (waiting) waiting(reply);
      else this.#replies.push(reply);
    });
    this.exited = new Promise((resolve) => this.worker.on('exit', resolve));
  }

  static async start(cpu: number | null, takePart = true): Promise<TestThread> {
    const thread = new TestThread(cpu, takePart);
    const ready = await thread.next();
    assert.equal(ready.type, 'ready');
    if (ready.type === 'ready') {
      thread.tid = ready.tid;
      thread.startCpu = ready.cpu;
    }
    return thread;
  }

  next(): Promise<SchedWorkerReply> {
    const queued = this.#replies.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      this.#waiting = resolve;
      void this.exited.then((code) => reject(new Error(`the worker exited (${code}) before replying`)));
    });
  }

  async request<R extends SchedWorkerReply>(request: SchedWorkerRequest): Promise<R> {
    this.worker.postMessage(request);
    return (await this.next()) as R;
  }

  /** Starts a spin and resolves once it is under way; `end()` stops it and gives its reply. */
  async spin(mode: SpinMode): Promise<() => Promise<SpinReply>> {
    Atomics.store(this.flags, 0, 0);
    this.worker.postMessage({ type: 'spin', mode } satisfies SchedWorkerRequest);
    await until(() => Atomics.load(this.flags, 1) === 1);
    return async () => {
      Atomics.store(this.flags, 0, 1);
      return (await this.next()) as SpinReply;
    };
  }

  state(): Promise<SchedWorkerState> {
    return this.request<SchedWorkerState>({ type: 'state' });
  }
}

/** The CPUs no thread holds, found by binding each in turn (and unbinding at once). */
function freeCpus(): number[] {
  return ALL_CPUS.filter((cpu) => {
    try {
      bind(cpu);
    } catch (error) {
      assert.ok(error instanceof CpuTakenError, String(error));
      return false;
    }
    unbind();
    return true;
  });
}

/** The thread id each CPU's CpuTakenError names (every CPU must be taken). */
function holders(): number[] {
  return ALL_CPUS.map((cpu) => {
    const error = assertThrowsCode(() => bind(cpu), CpuTakenError, 'ERR_PERCPU_CPU_TAKEN');
    return Number(/tid (\d+)/.exec(error.message)![1]);
  });
}

const sorted = (values: readonly number[]) => [...values].sort((a, b) => a - b);

describe('scheduler', function () {
  let threads: TestThread[] = [];

  afterEach(async function () {
    stopScheduler();
    await Promise.all(threads.map((t) => t.worker.terminate()));
    threads = [];
    const stats = schedulerStats();
    assert.equal(stats.running, false);
    assert.equal(stats.participants, 0);
    // Over every test so far: no swap left a thread where it should not be, and no signal reached
    // a thread that did not take part.
    assert.deepEqual([stats.checkFailures, stats.violations, stats.strays], [0, 0, 0]);
  });

  it('is off unless started; takes only bound threads; checks its options', function () {
    const stats = schedulerStats();
    assert.equal(stats.running, false);
    assert.equal(stats.migrateHz, 0);
    assertThrowsCode(() => participate(), NotBoundError, 'ERR_PERCPU_NOT_BOUND');
    assert.equal(native.sched.participating(), false);
    assertThrowsCode(() => startScheduler({ migrateHz: 0, irqHz: 0 }), PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE');
    assertThrowsCode(() => startScheduler({ migrateHz: -1 }), PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE');
    assertThrowsCode(() => startScheduler({ cpus: [TEST_CPUS] }), PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE');
    const irqs = new IrqGuard();
    irqs.release();
    assertThrowsCode(() => irqs.release(), GuardError, 'ERR_PERCPU_GUARD');
    assertThrowsCode(() => native.sched.irqEnable(), GuardError, 'ERR_PERCPU_GUARD');
    startScheduler({ migrateHz: 500, irqHz: 100, cpus: [1, 2] });
    assert.deepEqual([schedulerStats().running, schedulerStats().migrateHz, schedulerStats().irqHz, schedulerStats().cpus], [true, 500, 100, [1, 2]]);
    assertThrowsCode(() => startScheduler(), ConflictError, 'ERR_PERCPU_CONFLICT');
    assert.equal(stopScheduler(), true);
    assert.equal(stopScheduler(), false);
    const signals = schedulerStats().signals!;
    assert.equal(signals.irq, signals.migrate + 1);
    assert.ok(signals.migrate >= signals.sigrtmin + 6, `${signals.migrate} is a real-time signal from SIGRTMIN+6`);
  });

  it('stops when the thread that started it ends; a process exits cleanly while its threads migrate', async function () {
    const starter = new Worker(`require(${JSON.stringify(SIM)}).startScheduler({ migrateHz: 100 });`, { eval: true });
    assert.equal(await new Promise((resolve) => starter.on('exit', resolve)), 0);
    assert.equal(schedulerStats().running, false);
    // Four workers count and migrate with interrupts; the main thread exits in the middle of it,
    // or throws: the process ends with its status, neither hanging nor crashing.
    for (const [end, status] of [['process.exit(0)', 0], ["throw new Error('boom')", 1]] as const) {
      const script = `
        const p = { ...require(${JSON.stringify(LIB)}), ...require(${JSON.stringify(SIM)}) };
        const { Worker } = require('node:worker_threads');
        p.setup({ cpus: 4 });
        const body = 'const p = { ...require(' + JSON.stringify(${JSON.stringify(LIB)}) + '), ...require(' + JSON.stringify(${JSON.stringify(SIM)}) + ') }; const w = require("node:worker_threads");'
          + 'p.bind(w.workerData); p.participate(); const v = p.definePerCpu("x", "u64", 0n).num();'
          + 'w.parentPort.postMessage(0); for (;;) v.add(1n);';
        let ready = 0;
        for (let cpu = 0; cpu < 4; cpu++) new Worker(body, { eval: true, workerData: cpu }).on('message', () => {
          if (++ready < 4) return;
          p.startScheduler({ migrateHz: 2000, irqHz: 1000 });
          const wait = setInterval(() => {
            if (p.schedulerStats().migrations < 20) return;
            clearInterval(wait);
            console.log(p.schedulerStats().violations);
            ${end};
          }, 5);
        });`;
      const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, PERCPU_BACKEND: undefined } });
      assert.equal(run.status, status, run.stderr);
      assert.equal(run.stdout, '0\n');
    }
  });

  it('race loops check their arguments: a u64 static counter, an Int32Array stop flag, a bound thread, GS for the gs loop', function () {
    const stop = new Int32Array(new SharedArrayBuffer(4));
    Atomics.store(stop, 0, 1); // already stopped: a loop returns before its first add
    const counter = definePerCpu('sched.test.loop', 'u64', 0n);
    definePerCpu('sched.test.loop32', 'u32', 0);
    assertThrowsCode(() => loadSimulator().raceLoop(1, 'sched.test.nothing', stop, 10, 0), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
    assertThrowsCode(() => loadSimulator().raceLoop(1, 'sched.test.loop32', stop, 10, 0), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
    assertThrowsCode(() => loadSimulator().raceLoop(1, 'sched.test.loop', new Int32Array(0), 10, 0), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
    assertThrowsCode(() => loadSimulator().raceLoop(4, 'sched.test.loop', stop, 10, 0), PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE');
    assertThrowsCode(() => loadSimulator().raceLoop(1, 'sched.test.loop', stop, 10, 0), NotBoundError, 'ERR_PERCPU_NOT_BOUND');
    bind(0);
    try {
      for (const method of [1, 2, 3]) assert.deepEqual(loadSimulator().raceLoop(method, 'sched.test.loop', stop, 10, 0), { iterations: 0, irqAdds: 0 });
      if (region()!.backend === 'gs') {
        assert.deepEqual(loadSimulator().raceLoop(0, 'sched.test.loop', stop, 10, 0), { iterations: 0, irqAdds: 0 });
      } else {
        assertThrowsCode(() => loadSimulator().raceLoop(0, 'sched.test.loop', stop, 10, 0), BackendUnavailableError, 'ERR_PERCPU_BACKEND_UNAVAILABLE');
        assertThrowsCode(() => native.sched.irqAction('sched.test.loop', 'gs'), BackendUnavailableError, 'ERR_PERCPU_BACKEND_UNAVAILABLE');
      }
      // Not stopped: the loop ends at maxMs (5 ms), having added to CPU 0's slot only.
      const { iterations } = loadSimulator().raceLoop(1, 'sched.test.loop', new Int32Array(new SharedArrayBuffer(4)), 5, 0);
      assert.ok(iterations > 0);
      assert.deepEqual(counter.values(), [BigInt(iterations), 0n, 0n, 0n]);
    } finally {
      unbind();
    }
  });

  it('swaps the CPUs of participating threads: they move, and no two ever share a CPU', async function () {
    threads = await Promise.all(ALL_CPUS.map((cpu) => TestThread.start(cpu)));
    const before = schedulerStats();
    const ends = await Promise.all(threads.map((t) => t.spin('plain')));
    startScheduler({ migrateHz: 2000 });
    await until(() => schedulerStats().migrations - before.migrations >= 100);
    stopScheduler();
    const spins = await Promise.all(ends.map((end) => end()));
    const d = since(before);
    // Every swap was checked by both threads in their handlers and by the scheduler.
    assert.equal(d.checksPassed, 2 * d.migrations);
    assert.equal(d.verifications, d.migrations);
    assert.deepEqual([d.checkFailures, d.violations, d.strays], [0, 0, 0]);
    assert.equal(spins.reduce((n, s) => n + s.end.migrations - s.before.migrations, 0), 2 * d.migrations);
    for (const s of spins) assert.ok(s.seen.length >= 2, `a thread stayed on CPU ${s.seen}`);
    // Where they ended: one thread per CPU, and the owners table says the same.
    const states = await Promise.all(threads.map((t) => t.state()));
    assert.deepEqual(sorted(states.map((s) => s.cpu!)), ALL_CPUS);
    assert.deepEqual(states.map((s) => s.stats.cpu), states.map((s) => s.cpu));
    assert.deepEqual(holders(), states.map((s) => s.cpu!).reduce((byCpu, cpu, i) => ((byCpu[cpu] = threads[i]!.tid), byCpu), [] as number[]));
    if (region()!.backend === 'gs') {
      // Each thread's GS base is its CPU's area: one region base, areas one stride apart.
      const stride = BigInt(region()!.areaSize + 4096);
      const bases = states.map((s) => BigInt(s.gsBase!) - BigInt(s.cpu!) * stride);
      assert.deepEqual(bases, Array(TEST_CPUS).fill(bases[0]));
    } else {
      assert.deepEqual(states.map((s) => s.gsBase), Array(TEST_CPUS).fill('0'));
    }
  });

  it('a CpuGuard holds off migration: swaps that would move its thread are skipped; released, it moves again', async function () {
    threads = await Promise.all(ALL_CPUS.map((cpu) => TestThread.start(cpu)));
    const [guarded, ...others] = threads as [TestThread, ...TestThread[]];
    const before = schedulerStats();
    const endGuard = await guarded.spin('guard');
    const endOthers = await Promise.all(others.map((t) => t.spin('plain')));
    startScheduler({ migrateHz: 2000 });
    await until(() => since(before).requests >= 60 && since(before).migrations >= 30);
    const inGuard = await endGuard();
    // While it held the guard the thread never left its CPU, and declined the swaps offered to it.
    assert.deepEqual(inGuard.seen, [guarded.startCpu]);
    assert.equal(inGuard.end.migrations - inGuard.before.migrations, 0);
    assert.ok(inGuard.end.declined - inGuard.before.declined >= 1);
    const free = schedulerStats();
    const endFree = await guarded.spin('plain');
    await until(() => since(free).migrations >= 60);
    stopScheduler();
    const afterGuard = await endFree();
    await Promise.all(endOthers.map((end) => end()));
    assert.ok(afterGuard.end.migrations - afterGuard.before.migrations >= 1, 'the thread never moved once its guard was released');
    assert.deepEqual(sorted((await Promise.all(threads.map((t) => t.state()))).map((s) => s.cpu!)), ALL_CPUS);
  });

  it('interrupts reach every participating thread; an IrqGuard holds them off until it is released; others get none', async function () {
    const [masked, plain] = (threads = await Promise.all([TestThread.start(0), TestThread.start(1)])) as [TestThread, TestThread];
    const boundOnly = await TestThread.start(2, false);
    const unbound = await TestThread.start(null, false);
    threads.push(boundOnly, unbound);
    const before = schedulerStats();
    const endMasked = await masked.spin('irqoff');
    const endPlain = await plain.spin('plain');
    const endBoundOnly = await boundOnly.spin('plain');
    const endUnbound = await unbound.spin('plain');
    startScheduler({ migrateHz: 1000, irqHz: 2000 });
    await until(() => since(before).irqsSent >= 40 && since(before).irqsCoalesced >= 20 && since(before).migrationsCoalesced >= 10);
    stopScheduler();
    const m = await endMasked();
    const p = await endPlain();
    // Interrupts off: none taken and no swap while the guard was held.
    assert.equal(m.end.irqs - m.before.irqs, 0);
    assert.equal(m.end.handled - m.before.handled, 0);
    assert.equal(m.end.migrations - m.before.migrations, 0);
    // A masked interrupt is pending once, however many came: exactly one ran on release, and the
    // one swap request that reached the masked thread was answered once (and found stale).
    assert.equal(m.afterRelease!.irqs - m.end.irqs, 1, 'the pending interrupt did not run once on release');
    assert.equal(m.afterRelease!.handled - m.end.handled, 1);
    assert.ok(p.end.irqs - p.before.irqs >= 10);
    // Every swap needed the masked thread (there are two participants): one was asked, none made;
    // while its signal was pending, no other was proposed.
    assert.deepEqual(p.seen, [plain.startCpu]);
    assert.equal(since(before).migrations, 0);
    // Threads that do not take part, bound or not, were never signalled.
    for (const t of [await endBoundOnly(), await endUnbound()]) {
      assert.deepEqual([t.end.handled, t.end.irqs, t.end.participating], [0, 0, false]);
    }
    assert.equal(since(before).irqsHandled, since(before).irqsSent);
  });

  it('migrates and interrupts only participants on the CPUs it is given', async function () {
    threads = await Promise.all(ALL_CPUS.map((cpu) => TestThread.start(cpu)));
    const outside = threads[TEST_CPUS - 1]!;
    const before = schedulerStats();
    const ends = await Promise.all(threads.map((t) => t.spin('plain')));
    const inside = ALL_CPUS.slice(0, -1);
    startScheduler({ migrateHz: 2000, irqHz: 1000, cpus: inside });
    await until(() => since(before).migrations >= 40 && since(before).irqsSent >= 30);
    stopScheduler();
    const spins = await Promise.all(ends.map((end) => end()));
    const out = spins[TEST_CPUS - 1]!;
    assert.deepEqual(out.seen, [outside.startCpu]);
    assert.deepEqual([out.end.handled, out.end.irqs], [0, 0]);
    for (const s of spins.slice(0, -1)) {
      assert.ok(s.seen.every((cpu) => inside.includes(cpu)), `a thread left the set: ${s.seen}`);
      assert.ok(s.end.irqs >= 1);
    }
    assert.equal(since(before).irqsSent, since(before).irqsHandled);
  });

  it('a thread that unbinds or exits leaves first: no signal reaches it afterwards, and its CPU is free', async function () {
    threads = await Promise.all(ALL_CPUS.map((cpu) => TestThread.start(cpu)));
    const [leaver, exiter, ...rest] = threads as [TestThread, TestThread, ...TestThread[]];
    const ends = await Promise.all(rest.map((t) => t.spin('plain')));
    startScheduler({ migrateHz: 2000, irqHz: 1000 });
    let mark = schedulerStats();
    await until(() => since(mark).migrations >= 10);
    await leaver.request({ type: 'unbind' });
    const left = (await leaver.state()).stats;
    assert.deepEqual([left.participating, left.cpu], [false, -1]);
    mark = schedulerStats();
    await until(() => since(mark).migrations >= 20 && since(mark).irqsSent >= 20);
    const later = (await leaver.state()).stats;
    assert.deepEqual([later.handled, later.irqs], [left.handled, left.irqs]);
    exiter.worker.postMessage({ type: 'exit' } satisfies SchedWorkerRequest);
    assert.equal(await exiter.exited, 0);
    mark = schedulerStats();
    await until(() => since(mark).migrations >= 20);
    stopScheduler();
    await Promise.all(ends.map((end) => end()));
    // The two CPUs the leavers last held are free; the other two hold the remaining threads.
    const cpus = (await Promise.all(rest.map((t) => t.state()))).map((s) => s.cpu!);
    assert.deepEqual(sorted([...freeCpus(), ...cpus]), ALL_CPUS);
    assert.equal(freeCpus().length, 2);
  });

  it('a worker terminated with a swap waiting for it: its partner is released, its queued signals are dropped, its CPU is freed', async function () {
    const [victim, partner] = (threads = await Promise.all([TestThread.start(0), TestThread.start(1)])) as [TestThread, TestThread];
    const endVictim = await victim.spin('irqoff'); // its signal waits, and no swap can be made without it
    const endPartner = await partner.spin('plain');
    const before = schedulerStats();
    startScheduler({ migrateHz: 2000 });
    // One request reached it; with that signal pending, the next swaps are not even proposed.
    await until(() => since(before).requests >= 1 && since(before).migrationsCoalesced >= 3);
    void endVictim; // never ends: the worker is terminated in the middle of its spin
    assert.equal(await victim.worker.terminate(), 1);
    stopScheduler();
    const d = since(before);
    assert.equal(d.migrations, 0);
    assert.ok(d.drained >= 1, 'the signals queued for the terminated worker were not drained');
    const spun = await endPartner();
    assert.deepEqual(spun.seen, [1]);
    assert.deepEqual(freeCpus(), [0, 2, 3]);
    threads = [partner];
  });

  it('workers terminated at random while threads migrate and take interrupts: exactly one CPU is freed each time', async function () {
    const spins = new Map<TestThread, Promise<() => Promise<SpinReply>>>();
    const launch = async (cpu: number) => {
      const t = await TestThread.start(cpu);
      threads.push(t);
      spins.set(t, t.spin('count'));
      await spins.get(t);
      return t;
    };
    for (const cpu of ALL_CPUS) await launch(cpu);
    const before = schedulerStats();
    startScheduler({ migrateHz: 2000, irqHz: 500 });
    for (let round = 0; round < 6; round++) {
      const mark = schedulerStats();
      await until(() => since(mark).migrations >= 5);
      const victim = threads[round % threads.length]!;
      assert.equal(await victim.worker.terminate(), 1);
      threads = threads.filter((t) => t !== victim);
      spins.delete(victim);
      const free = freeCpus();
      assert.equal(free.length, 1, `free CPUs after a termination: ${free}`);
      await launch(free[0]!);
    }
    stopScheduler();
    const results = await Promise.all([...spins.values()].map(async (started) => (await started)()));
    const d = since(before);
    assert.deepEqual([d.checkFailures, d.violations, d.strays], [0, 0, 0]);
    assert.equal(d.checksPassed, 2 * d.migrations);
    assert.ok(results.every((r) => r.adds > 0));
    assert.deepEqual(freeCpus(), []);
    assert.deepEqual(sorted((await Promise.all(threads.map((t) => t.state()))).map((s) => s.cpu!)), ALL_CPUS);
  });
});
