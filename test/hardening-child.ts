/**
 * The child processes of test/hardening.test.ts: what could crash or hang percpu runs here, so
 * that the test sees a crash as a crash and a hang as a timeout, not as its own death.
 *
 *   node dist/test/hardening-child.js MODE
 *
 * Each mode prints one JSON line (its findings) and exits 0, unless it says otherwise.
 */
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import * as lib from '../lib';
import * as libSim from '../lib/sim';
import type { NativeHandle } from '../lib/core/native';
import { foreignWrapped, handleEntryPoints, handlePrototype, secondCopyOfPercpu } from './foreign';

const CPUS = 4;

/** What a call threw, as plain data ('returned' when it did not throw). */
function outcome(fn: () => unknown): string {
  try {
    fn();
    return 'returned';
  } catch (error) {
    const e = error as { name?: unknown; code?: unknown };
    return `${String(e?.name)} ${String(e?.code)}`;
  }
}

function print(result: unknown): void {
  process.stdout.write(`${JSON.stringify(result, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}\n`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `ready` every few milliseconds until it is true (the callers' tests bound the wait). */
async function until(ready: () => boolean): Promise<void> {
  while (!ready()) await sleep(5);
}

const modes: Record<string, () => Promise<void> | void> = {
  /**
   * Findings 1 and 2: every method and accessor of the handle class, called on another addon's
   * wrapped object (its words 0x4141414141414141), on a handle of a second copy of percpu, and the
   * second copy's on one of ours. Prints each outcome, and the foreign words and our slots after.
   */
  receivers() {
    lib.setup({ cpus: CPUS });
    const mine = lib.DynamicPerCpu.newFrom('u64', (cpu) => BigInt(cpu + 1));
    const ours = (mine as unknown as { handle: NativeHandle }).handle;
    const foreign = foreignWrapped();
    const other = secondCopyOfPercpu(CPUS);
    const theirs = other.allocateFrom(lib.typeInfo('u64').index, [7n, 8n, 9n, 10n]);
    const result: Record<string, Record<string, string>> = { foreign: {}, otherCopysHandle: {}, oursByOtherCopy: {} };
    lib.bind(0);
    for (const { name, call } of handleEntryPoints(handlePrototype(ours))) {
      result.foreign![name] = outcome(() => call(foreign));
      result.otherCopysHandle![name] = outcome(() => call(theirs));
    }
    for (const { name, call } of handleEntryPoints(handlePrototype(theirs))) result.oursByOtherCopy![name] = outcome(() => call(ours));
    lib.unbind();
    print({ ...result, foreignWords: foreign.words(), mine: mine.values(), theirs: [0, 1, 2, 3].map((cpu) => theirs.readRemote(cpu)) });
  },

  /**
   * Finding 3: setters on Object.prototype and Array.prototype named like the scheduler's and the
   * allocator's results, each calling back into percpu (stopScheduler, participate, the stats).
   * A result filled with property sets under a lock would run them there and deadlock. Prints
   * how often a setter ran (0: the results are built with own data properties) and the results.
   */
  async setters() {
    lib.setup({ cpus: CPUS });
    lib.bind(0);
    let ran = 0;
    let inside = false; // a setter counts (and calls back) only while percpu runs: this code's own pushes hit them too
    const call = <T>(fn: () => T): T => {
      inside = true;
      try {
        return fn();
      } finally {
        inside = false;
      }
    };
    const reenter = [
      () => libSim.stopScheduler(),
      () => libSim.participate(),
      () => libSim.schedulerStats(),
      () => libSim.threadSchedulerStats(),
      () => lib.stats(),
      () => lib.region(),
    ];
    const names = ['running', 'participants', 'cpus', 'migrations', 'signals', 'tid', 'irqDepth', 'liveAllocations', 'outstandingTickets', 'backend', 'areaSize'];
    const install = (target: object, name: string, i: number) =>
      Object.defineProperty(target, name, {
        configurable: true,
        set(value: unknown) {
          if (inside) {
            ran++;
            reenter[i % reenter.length]!();
          }
          Object.defineProperty(this, name, { value, writable: true, enumerable: true, configurable: true });
        },
      });
    names.forEach((name, i) => install(Object.prototype, name, i));
    ['0', '1'].forEach((name, i) => install(Array.prototype, name, i));
    const seen: unknown[] = [];
    try {
      call(() => libSim.participate());
      call(() => libSim.startScheduler({ migrateHz: 1000, irqHz: 1000, cpus: [0, 1] }));
      await until(() => call(() => libSim.threadSchedulerStats()).irqs > 0);
      for (let i = 0; i < 50; i++) {
        const s = call(() => libSim.schedulerStats());
        const thread = call(() => libSim.threadSchedulerStats());
        seen.push([s.running, s.participants, s.cpus, thread.participating, call(() => lib.stats()).outstandingTickets, call(() => lib.region())!.cpus]);
      }
    } finally {
      libSim.stopScheduler();
      for (const name of names) delete (Object.prototype as Record<string, unknown>)[name];
      for (const name of ['0', '1']) delete (Array.prototype as unknown as Record<string, unknown>)[name];
      lib.unbind();
    }
    print({ setterCalls: ran, first: seen[0], same: seen.every((s) => JSON.stringify(s) === JSON.stringify(seen[0])) });
  },

  /** Finding 5: interrupts held off by an IrqGuard at 100 kHz; SigQ (queued signals) sampled meanwhile. */
  async irqs() {
    lib.setup({ cpus: 2 });
    lib.bind(0);
    libSim.participate();
    const sigq = () => Number(/^SigQ:\s+(\d+)\//m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]);
    const before = sigq();
    libSim.startScheduler({ migrateHz: 0, irqHz: 100_000 });
    await until(() => libSim.threadSchedulerStats().irqs >= 10);
    const guard = new libSim.IrqGuard();
    const s0 = libSim.schedulerStats();
    const samples: number[] = [];
    // Held until the scheduler has tried 5000 more interrupts on this thread, each one coalesced
    // with the one pending (it gives up after 3 s: a hang guard; the test then sees too few).
    const coalesced = () => libSim.schedulerStats().irqsCoalesced - s0.irqsCoalesced;
    for (const giveUp = performance.now() + 3000; coalesced() < 5000 && performance.now() < giveUp; ) samples.push(sigq());
    libSim.stopScheduler();
    const held = libSim.threadSchedulerStats().irqs;
    const s1 = libSim.schedulerStats();
    const pendingWhileHeld = sigq();
    guard.release();
    const handledOnRelease = libSim.threadSchedulerStats().irqs - held;
    const after = sigq();
    lib.unbind();
    print({ before, maxWhileHeld: Math.max(...samples), pendingWhileHeld, after, handledOnRelease, sentWhileHeld: s1.irqsSent - s0.irqsSent, coalesced: s1.irqsCoalesced - s0.irqsCoalesced });
  },

  /** Finding 6: process.exit() once the native race loops are counting. Exits 7 (through the exit). */
  async raceExit() {
    void libSim.runRace({ rows: [{ scenario: 'migration', method: 'raw' }], seconds: 100, maxSeconds: 120, threads: 2 });
    await until(() => lib.region() !== null && raceCounterMoved());
    process.exit(7);
  },

  /** Finding 6: the worker running runRace is terminated once the native loops count. Prints the exit code. */
  async raceWorkerTerminated() {
    lib.setup({ cpus: CPUS });
    const worker = new Worker(
      `require(${JSON.stringify(require.resolve('../lib/sim'))}).runRace({ rows: [{ scenario: 'migration', method: 'raw' }], seconds: 100, maxSeconds: 120, threads: 2 });`,
      { eval: true },
    );
    await until(raceCounterMoved);
    print({ exitCode: await worker.terminate() });
  },

  /**
   * Finding 10: runRace calls that reject (a bad row, a running scheduler) set nothing up: the
   * region stays as it was, so a CpuSet of another size starts afterwards.
   */
  async raceRejects() {
    const rejections: string[] = [];
    const rejected = async (options: libSim.RaceOptions) => {
      await libSim.runRace(options).then(
        () => rejections.push('resolved'),
        (error: { name?: unknown; code?: unknown }) => rejections.push(`${String(error.name)} ${String(error.code)}`),
      );
    };
    await rejected({ rows: [{ scenario: 'migration', method: 'bogus' as libSim.RaceMethod }] });
    await rejected({ rows: [{ scenario: 'migration', method: 'constructor' as libSim.RaceMethod }] });
    await rejected({ rows: [{ scenario: 'interrupts', method: 'js-rmw' }], threads: 2 });
    await rejected({ rows: [{ scenario: 'interrupts', method: 'js-add', backend: 'generic' }], threads: 2 });
    const regionAfterRows = lib.region();
    // None of them set up a region of 2 (or 4) CPUs: a CpuSet of 6 starts.
    const set = await lib.CpuSet.start({ cpus: 6 });
    const cpus = await set.onEachCpu(lib.task(require.resolve('./tasks'), 'whoAmI'));
    await set.close();
    // A running scheduler is refused before any thread starts.
    libSim.startScheduler({ migrateHz: 1000 });
    const statsBefore = lib.stats();
    await rejected({ threads: 2 });
    const statics = lib.stats().liveAllocations - statsBefore.liveAllocations;
    libSim.stopScheduler();
    print({ rejections, regionAfterRows, cpus, statics });
  },
};

function raceCounterMoved(): boolean {
  try {
    return lib.getStaticPerCpu('percpu.race.migration.raw', 'u64').sum() > 0n;
  } catch {
    return false; // not defined yet
  }
}

const mode = process.argv[2] ?? '';
const run = modes[mode];
if (run === undefined) {
  process.stderr.write(`hardening-child: unknown mode '${mode}' (${Object.keys(modes).join(', ')})\n`);
  process.exitCode = 2;
} else {
  Promise.resolve(run()).catch((error: unknown) => {
    process.stderr.write(`hardening-child ${mode}: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  });
}
