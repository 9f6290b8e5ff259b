/**
 * The fuzzer's child process. test/fuzz.test.ts runs it, so that a crash is seen as a crash:
 *
 *   node dist/test/fuzz/child.js --seed 1234 [--calls 60000] [--threads 3]
 *       Fuzzes from the main thread and threads - 1 workers at once, each with its own seed
 *       derived from --seed, its own allocations and its own two CPUs; one more CPU is held by a
 *       worker that does nothing (binding it is a CpuTakenError). Prints a JSON summary line.
 *   node dist/test/fuzz/child.js --replay calls.json --thread 1 [--threads 3] [--trace]
 *       Runs one thread's call list alone (what the shrinker and a person reproducing a failure
 *       do); --trace writes each call to stderr before it runs, so a crash shows its last call.
 *
 * Before the fuzzing starts, a "carpet" of sentinel allocations is laid at the start of the area:
 * units of 32 bytes in which holes of 1, 2, 4 and 8 bytes sit between sentinels of every size
 * (filled with a pattern on every CPU). First-fit puts the fuzzed variables in those holes, so a
 * write that strays past a variable lands in a sentinel, a variable the model checks, or (rarely,
 * once a hole is shared) a free byte; the sentinels are checked when every thread is done.
 *
 * Exit status: 0 all calls as the model predicts; 3 a model mismatch (the seed, the shortest
 * failing call list found and its trace are printed on stderr); anything else, or a signal, is a crash.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { DynamicPerCpu, NUMERIC_OPS, bind, fastPath, setup, stats, type NumericType } from '../../lib';
import { deriveSeed, genCalls, type Call } from './calls';
import { copyOfBinding } from '../foreign';
import { CARPET_OWNER, Engine, type EngineConfig, type RunResult } from './engine';
import { installHostileSetters, type HostileSetters } from './hostile';
import { shrink } from './shrink';

export const EXIT_MISMATCH = 3;
const AREA_SIZE = 256 * 1024;
const CARPET_UNITS = 256;

export interface ChildOptions {
  seed: number;
  /** Calls per thread. */
  calls: number;
  threads: number;
}

/** What a fuzzing thread reports. */
export interface ThreadReport {
  thread: number;
  threadSeed: number;
  result: RunResult;
  /** Times a hostile prototype setter ran on this thread (the fuzzer's own code meets them; percpu's calls never do). */
  setterRuns: number;
  failure?: {
    message: string;
    index: number;
    shrunk: Call[];
    trace: string[];
    tests: number;
    complete: boolean;
    file: string;
  };
}

export interface Summary {
  seed: number;
  threads: number;
  ops: string[];
  executed: number;
  rejected: number;
  skipped: number;
  byKind: Record<string, number>;
  errors: Record<string, number>;
  sentinels: number;
  /** Hostile prototype setters armed on every thread, and how often they ran (outside percpu's calls: inside, each is a failure). */
  setterNames: number;
  setterRuns: number;
  /** How num() reached the addon in this child (fastPath.reason). */
  numPath: string;
}

/** The CPUs of a run with `threads` fuzzing threads: two of its own for each, and one held by the holder. */
export function cpusFor(threads: number): number {
  return 2 * threads + 1;
}

/** What every fuzzing thread shares: the allocator lock, the owners of the area's bytes, the second copy of the binding. */
interface Shared {
  lock: Int32Array;
  owners: Uint8Array;
  secondCopy: string;
}

function engineConfig(thread: number, threads: number, shared: Shared, hostile: HostileSetters): EngineConfig {
  return {
    thread,
    cpus: cpusFor(threads),
    ownCpus: [thread, thread + threads],
    foreignCpu: 2 * threads,
    areaSize: AREA_SIZE,
    lock: shared.lock,
    owners: shared.owners,
    verifyEvery: 8,
    hostile,
    secondCopy: shared.secondCopy,
  };
}

/** This thread's hostile prototype setters (./hostile), armed once per thread for all its runs. */
let hostile: HostileSetters | undefined;
function armHostileSetters(): HostileSetters {
  return (hostile ??= installHostileSetters());
}

/** The calls of thread `thread` of a run: a pure function of the seed and the ops the library lists. */
export function threadCalls(options: ChildOptions, thread: number): Call[] {
  return genCalls(deriveSeed(options.seed, thread), options.calls, { ops: NUMERIC_OPS, cpus: cpusFor(options.threads) });
}

/** Runs one thread's calls; on a mismatch, shrinks them in this thread and traces the shortest list. */
async function fuzzThread(thread: number, options: ChildOptions, shared: Shared): Promise<ThreadReport> {
  const config = engineConfig(thread, options.threads, shared, armHostileSetters());
  const calls = threadCalls(options, thread);
  let run = 0;
  const result = await new Engine(config, { run: run++ }).runAll(calls);
  const report: ThreadReport = { thread, threadSeed: deriveSeed(options.seed, thread), result, setterRuns: config.hostile!.runs };
  if (result.failure === undefined) return report;
  const shrunk = await shrink(calls.slice(0, result.failure.index + 1), async (candidate) => (await new Engine(config, { run: run++ }).runAll(candidate)).failure !== undefined, {
    tests: 1500,
    deadline: Date.now() + 90_000,
  });
  const trace: string[] = [];
  const final = await new Engine(config, { run: run++, trace: (line) => trace.push(line) }).runAll(shrunk.items);
  const file = path.join(os.tmpdir(), `percpu-fuzz-${options.seed}-thread${thread}.json`);
  fs.writeFileSync(file, JSON.stringify(shrunk.items));
  report.failure = {
    message: final.failure?.message ?? result.failure.message,
    index: result.failure.index,
    shrunk: shrunk.items,
    trace,
    tests: shrunk.tests,
    complete: shrunk.complete,
    file,
  };
  return report;
}

interface Carpet {
  sentinels: { v: DynamicPerCpu<NumericType>; expected: (number | bigint)[] }[];
}

/** The pattern of sentinel `i` on `cpu`, for its type. */
function pattern(type: NumericType, i: number, cpu: number): number | bigint {
  const bits = (BigInt(i) * 0x9e3779b97f4a7c15n + BigInt(cpu + 1) * 0xc2b2ae3d27d4eb4fn) & 0xffffffffffffffffn;
  switch (type) {
    case 'u8': return Number(bits & 0xffn) | 0x01; // never 0: a zeroing write shows
    case 'u32': return (Number(bits & 0xffffffffn) | 0x01) >>> 0;
    case 'u64': return bits | 1n;
    default: throw new Error(type);
  }
}

/** Lays the carpet (see the file comment) from offset 64 on, in a fresh area. */
function layCarpet(owners: Uint8Array): Carpet {
  // Per 32-byte unit: [hole u8][sentinel u8][hole u16][sentinel u32][hole u32][sentinel u32][hole u64][sentinel u64]
  const layout: [NumericType, boolean][] = [['u8', false], ['u8', true], ['u16', false], ['u32', true], ['u32', false], ['u32', true], ['u64', false], ['u64', true]];
  const sentinels: Carpet['sentinels'] = [];
  const holes: DynamicPerCpu<NumericType>[] = [];
  let expectedOffset = 64;
  for (let unit = 0; unit < CARPET_UNITS; unit++) {
    for (const [type, sentinel] of layout) {
      const size = type === 'u8' ? 1 : type === 'u16' ? 2 : type === 'u32' ? 4 : 8;
      expectedOffset = Math.ceil(expectedOffset / size) * size;
      const i = sentinels.length;
      const v = sentinel ? DynamicPerCpu.newFrom(type, (cpu) => pattern(type, i, cpu) as never) : DynamicPerCpu.newZero(type);
      if (v.offset !== expectedOffset) throw new Error(`the carpet's ${type} landed at ${v.offset}, not ${expectedOffset}: the area was not fresh`);
      expectedOffset += size;
      if (sentinel) {
        sentinels.push({ v, expected: v.values() as (number | bigint)[] });
        owners.fill(CARPET_OWNER, v.offset, v.offset + size);
      } else holes.push(v);
    }
  }
  for (const hole of holes) hole.release();
  return { sentinels };
}

function checkCarpet(carpet: Carpet): string[] {
  const damaged: string[] = [];
  for (const { v, expected } of carpet.sentinels) {
    const actual = v.values();
    actual.forEach((value, cpu) => {
      if (value !== expected[cpu]) damaged.push(`sentinel ${v.type} at offset ${v.offset}, CPU ${cpu}: ${String(value)}, was ${String(expected[cpu])}`);
    });
  }
  return damaged;
}

/** A worker that binds the foreign CPU and holds it until told to go. */
function startHolder(cpu: number): Promise<Worker> {
  const worker = new Worker(__filename, { workerData: { fuzzRole: 'holder', cpu } satisfies WorkerRole });
  return new Promise((resolve, reject) => {
    worker.once('message', () => resolve(worker));
    worker.once('error', reject);
  });
}

function runFuzzWorker(thread: number, options: ChildOptions, lock: SharedArrayBuffer, owners: SharedArrayBuffer, secondCopy: string): Promise<ThreadReport> {
  const worker = new Worker(__filename, { workerData: { fuzzRole: 'fuzz', thread, options, lock, owners, secondCopy } satisfies WorkerRole });
  return new Promise((resolve, reject) => {
    let report: ThreadReport | undefined;
    worker.on('message', (message: ThreadReport) => (report = message));
    worker.on('error', reject);
    worker.on('exit', (code) => (report === undefined ? reject(new Error(`fuzzing thread ${thread} exited with code ${code} without a report`)) : resolve(report)));
  });
}

function printFailure(options: ChildOptions, report: ThreadReport): void {
  const f = report.failure!;
  const lines = [
    `percpu fuzz: MISMATCH with seed ${options.seed} (thread ${report.thread} of ${options.threads}, its seed ${report.threadSeed}, call #${f.index} of ${options.calls})`,
    `  ${f.message}`,
    `  shortest failing sequence found (${f.shrunk.length} calls, ${f.tests} shrinking runs${f.complete ? '' : ', budget ran out'}):`,
    ...f.trace.map((line, i) => `    ${String(i + 1).padStart(3)}. ${line}`),
    `  replay: node ${path.relative(process.cwd(), __filename)} --replay ${f.file} --thread ${report.thread} --threads ${options.threads} --trace`,
    `  rerun:  PERCPU_FUZZ_SEED=${options.seed} npx mocha dist/test/fuzz.test.js`,
  ];
  process.stderr.write(lines.join('\n') + '\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string', default: '1' },
      calls: { type: 'string', default: '20000' },
      threads: { type: 'string', default: '3' },
      replay: { type: 'string' },
      thread: { type: 'string', default: '0' },
      trace: { type: 'boolean', default: false },
    },
  });
  const options: ChildOptions = { seed: Number(values.seed) >>> 0, calls: Number(values.calls), threads: Number(values.threads) };
  setup({ cpus: cpusFor(options.threads), areaSize: AREA_SIZE });
  const lockBuffer = new SharedArrayBuffer(4);
  const ownersBuffer = new SharedArrayBuffer(AREA_SIZE);
  const lock = new Int32Array(lockBuffer);
  const owners = new Uint8Array(ownersBuffer);
  const copy = copyOfBinding(); // every thread loads the second copy from here
  process.on('exit', () => fs.rmSync(copy.dir, { recursive: true, force: true }));
  const shared: Shared = { lock, owners, secondCopy: copy.file };
  const carpet = layCarpet(owners);
  const baseline = stats();
  const holder = await startHolder(2 * options.threads);

  let reports: ThreadReport[];
  if (values.replay !== undefined) {
    const thread = Number(values.thread);
    const calls = JSON.parse(fs.readFileSync(values.replay, 'utf8')) as Call[];
    const trace = values.trace ? (line: string) => fs.writeSync(2, `${line}\n`) : undefined;
    const config = engineConfig(thread, options.threads, shared, armHostileSetters());
    const result = await new Engine(config, { run: 0, ...(trace ? { trace } : {}) }).runAll(calls);
    if (result.failure !== undefined) {
      process.stderr.write(`percpu fuzz replay: call #${result.failure.index}: ${result.failure.message}\n`);
      await holder.terminate();
      return EXIT_MISMATCH;
    }
    reports = [{ thread, threadSeed: 0, result, setterRuns: config.hostile!.runs }];
  } else {
    const workers = Array.from({ length: options.threads - 1 }, (_, i) => runFuzzWorker(i + 1, options, lockBuffer, ownersBuffer, copy.file));
    const mine = await fuzzThread(0, options, shared);
    reports = [mine, ...(await Promise.all(workers))];
  }
  holder.postMessage('go');
  await new Promise((resolve) => holder.once('exit', resolve));

  let status = 0;
  for (const report of reports) {
    if (report.failure !== undefined) {
      printFailure(options, report);
      status = EXIT_MISMATCH;
    }
  }
  const damaged = checkCarpet(carpet);
  if (damaged.length > 0) {
    process.stderr.write(`percpu fuzz: seed ${options.seed}: ${damaged.length} sentinel slots damaged:\n  ${damaged.slice(0, 20).join('\n  ')}\n`);
    status = EXIT_MISMATCH;
  }
  // Every thread released all it allocated; only the carpet and the statics remain.
  const after = stats();
  const statics = reports.reduce((n, r) => n + r.result.statics, 0);
  const staticBytes = reports.reduce((n, r) => n + r.result.staticBytes, 0);
  if (
    status === 0 &&
    (after.outstandingTickets !== baseline.outstandingTickets ||
      after.liveAllocations !== baseline.liveAllocations + statics ||
      after.bytesInUse !== baseline.bytesInUse + staticBytes)
  ) {
    process.stderr.write(`percpu fuzz: seed ${options.seed}: stats after the run ${JSON.stringify(after)}, before ${JSON.stringify(baseline)}, ${statics} statics of ${staticBytes} bytes defined\n`);
    status = EXIT_MISMATCH;
  }
  const summary: Summary = {
    numPath: fastPath.reason,
    seed: options.seed,
    threads: options.threads,
    ops: [...NUMERIC_OPS],
    executed: 0,
    rejected: 0,
    skipped: 0,
    byKind: {},
    errors: {},
    sentinels: carpet.sentinels.length,
    setterNames: armHostileSetters().names.length,
    setterRuns: reports.reduce((n, r) => n + r.setterRuns, 0),
  };
  for (const { result } of reports) {
    summary.executed += result.executed;
    summary.rejected += result.rejected;
    summary.skipped += result.skipped;
    for (const [kind, n] of Object.entries(result.byKind)) summary.byKind[kind] = (summary.byKind[kind] ?? 0) + n;
    for (const [name, n] of Object.entries(result.errors)) summary.errors[name] = (summary.errors[name] ?? 0) + n;
  }
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  return status;
}

type WorkerRole =
  | { fuzzRole: 'holder'; cpu: number }
  | { fuzzRole: 'fuzz'; thread: number; options: ChildOptions; lock: SharedArrayBuffer; owners: SharedArrayBuffer; secondCopy: string };

// Run as a script (not when test/fuzz.test.ts imports what it shares), or as one of its workers.
if (isMainThread && require.main === module) {
  main().then(
    (status) => {
      process.exitCode = status;
    },
    (error: unknown) => {
      process.stderr.write(`percpu fuzz: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.exitCode = 1;
    },
  );
} else if (!isMainThread && (workerData as Partial<WorkerRole> | null)?.fuzzRole !== undefined) {
  const data = workerData as WorkerRole;
  if (data.fuzzRole === 'holder') {
    bind(data.cpu);
    parentPort!.once('message', () => parentPort!.close());
    parentPort!.postMessage('holding');
  } else {
    const shared: Shared = { lock: new Int32Array(data.lock), owners: new Uint8Array(data.owners), secondCopy: data.secondCopy };
    void fuzzThread(data.thread, data.options, shared).then((report) => parentPort!.postMessage(report));
  }
}
