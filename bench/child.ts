/**
 * One benchmark process, on one backend (PERCPU_BACKEND, set by bench/main.ts): a CpuSet of N
 * CPUs (this thread is CPU 0), then rounds of every measurement of its plan, in an order that
 * rotates each round. Reports samples and counter checks as JSON in the file the parent names.
 *
 *   node dist/bench/child.js '<ChildConfig as JSON>'
 */
import * as fs from 'node:fs';
import { CpuSet, describeBackend, setup, task, type StaticPerCpu } from '../lib';
import {
  EXPERIMENTS,
  fastFloor,
  JS_METHODS,
  SCALING_METHODS,
  handleOf,
  nativeBench,
  newGate,
  summarize,
  type Backend,
  type ChildConfig,
  type ChildResult,
  type CounterCheck,
  type Experiment,
  type Group,
  type JsMethod,
  type NativeMethod,
  type ReadMethod,
  type Sample,
  type Timing,
} from './common';
import { compile, counters, ownIndex, plainIndex, SHARED_INDEX, sharedWordsBytes, timeLoop, type Loop } from './tasks';
import type * as tasks from './tasks';

const TASKS = require.resolve('./tasks');
const prepareTask = task<typeof tasks.prepare>(TASKS, 'prepare');
const runJsTask = task<typeof tasks.runJs>(TASKS, 'runJs');
const runNativeTask = task<typeof tasks.runNative>(TASKS, 'runNative');
const promCountTask = task<typeof tasks.promCount>(TASKS, 'promCount');

/** One measurement: a method of a group, on each of these thread counts. */
interface Entry {
  group: Group;
  method: string;
  threads: number[];
  /** Ops per thread per sample (set by calibration). */
  ops: number;
}

const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
const ends = (n: number) => (n === 1 ? [1] : [1, n]);

/**
 * What this process measures. Every process measures every JS method (the table, on its
 * own backend) and the call-path experiments; the primary process (gs where the build has it)
 * also the native loops, scaling and reading. callPathOnly: the JS methods on 1 and N CPUs and the
 * experiments only (the per-Node-line table, bench/node-lines.ts).
 */
function plan(backend: Backend, primary: boolean, cpus: number, callPathOnly: boolean): Entry[] {
  const e = (group: Group, method: string, threads: number[]): Entry => ({
    group,
    method,
    threads: !callPathOnly && (SCALING_METHODS as readonly string[]).includes(`${group}.${method}`) ? upTo(cpus) : threads,
    ops: 0,
  });
  const js = JS_METHODS.filter((m) => m !== 'emptyFast' || fastFloor !== null).map((m) => e('js', m, ends(cpus)));
  const experiments = EXPERIMENTS.map((m) => e('experiment', m, [1]));
  if (callPathOnly || !primary) return [...js, ...experiments];
  const native: Entry[] = [
    e('native', 'empty', ends(cpus)),
    ...(backend === 'gs' ? [e('native', 'gs', upTo(cpus))] : []),
    e('native', 'generic', upTo(cpus)),
    e('native', 'lockOwn', ends(cpus)),
    e('native', 'lockShared', upTo(cpus)),
  ];
  return [...native, ...js, ...(['empty', 'sum64', 'sum32', 'readRemote64'] as ReadMethod[]).map((m) => e('read', m, [1])), ...experiments];
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as ChildConfig;
  const { cpus, backend } = config;
  const info = setup({ cpus });
  if (info.backend !== backend) throw new Error(`asked for the ${backend} backend, got ${describeBackend(info)}`);
  const set = await CpuSet.start({ cpus });
  const words = new SharedArrayBuffer(sharedWordsBytes(cpus));
  const a = new Uint32Array(words);
  const log = (text: string) => process.stderr.write(`  [${backend} #${config.child}] ${text}\n`);
  try {
    await set.onEachCpu(prepareTask, words, cpus);
    nativeBench.resetSharedCounter();
    const c = counters();
    // Increments made, per CPU (CPU i runs its share of every sample with more than i threads).
    const expected = new Map<string, bigint[]>();
    const count = (name: string, threads: number, ops: number) => {
      const perCpu = expected.get(name) ?? Array.from({ length: cpus }, () => 0n);
      for (let cpu = 0; cpu < threads; cpu++) perCpu[cpu]! += BigInt(ops);
      expected.set(name, perCpu);
    };

    // ---- single-thread methods of this thread: reading, and the call-path experiments
    const remoteCpu = cpus > 1 ? 1 : 0;
    const readLoops: Record<ReadMethod, Loop> = {
      empty: compile('read.empty', 'f(1)', { f: nativeBench.emptyCall }),
      sum64: compile('read.sum64', 'v.sum()', { v: c.js64 }),
      sum32: compile('read.sum32', 'v.sum()', { v: c.js32 }),
      readRemote64: compile('read.readRemote64', `v.readRemote(${remoteCpu})`, { v: c.js64 }),
    };
    // The same ops through the binding's Node-API callbacks, beside the accelerator's (num()).
    const napi32 = handleOf(c.exp32).ops(true);
    const napi64 = handleOf(c.exp64).ops(true);
    // Each experiment: its loop, and the counter it adds 1 to per call (none for the empty one).
    const experiments: Record<Experiment, [Loop, string | null]> = {
      emptyCall: [compile('experiment.emptyCall', 'f(1)', { f: nativeBench.emptyCall }), null],
      numAdd: [compile('experiment.numAdd', 'v.num().add(1)', { v: c.exp32 }), 'experiment.u32'],
      numAddNapi: [compile('experiment.numAddNapi', 'o.add(1)', { o: napi32 }), 'experiment.u32'],
      numInc: [compile('experiment.numInc', 'v.num().inc()', { v: c.exp32 }), 'experiment.u32'],
      numIncNapi: [compile('experiment.numIncNapi', 'o.inc()', { o: napi32 }), 'experiment.u32'],
      numAdd64: [compile('experiment.numAdd64', 'v.num().add(1n)', { v: c.exp64 }), 'experiment.u64'],
      numAdd64Napi: [compile('experiment.numAdd64Napi', 'o.add(1n)', { o: napi64 }), 'experiment.u64'],
      numInc64: [compile('experiment.numInc64', 'v.num().inc()', { v: c.exp64 }), 'experiment.u64'],
      numInc64Napi: [compile('experiment.numInc64Napi', 'o.inc()', { o: napi64 }), 'experiment.u64'],
    };

    /** Runs one sample of `entry` on CPUs 0..threads-1 at once; counts what it added. */
    const measure = async (entry: Entry, threads: number, ops: number): Promise<ReturnType<typeof summarize>> => {
      const { group, method } = entry;
      let times: Timing[];
      if (group === 'native' || group === 'js') {
        const gate = newGate();
        const runs = Array.from({ length: threads }, (_, cpu) =>
          group === 'native'
            ? set.runOn(cpu, runNativeTask, method as NativeMethod, ops, gate, threads)
            : set.runOn(cpu, runJsTask, method as JsMethod, ops, gate, threads),
        );
        times = await Promise.all(runs);
      } else {
        const loop = group === 'read' ? readLoops[method as ReadMethod] : experiments[method as Experiment][0];
        times = [timeLoop(loop, ops)];
      }
      if (group === 'native' && method !== 'empty') count(`native.${method}`, threads, ops);
      if (group === 'js' && method !== 'empty' && method !== 'emptyFast') count(`js.${method}`, threads, ops);
      if (group === 'experiment') {
        const counter = experiments[method as Experiment][1];
        if (counter !== null) count(counter, threads, ops);
      }
      return summarize(times, ops);
    };

    // ---- calibration: ops per sample for about config.sampleMs on one thread (warms the JIT too)
    const entries = plan(backend, config.primary, cpus, config.callPathOnly);
    for (const entry of entries) {
      if (config.quick) {
        entry.ops = entry.group === 'native' ? 20_000 : 2_000;
        await measure(entry, 1, entry.ops); // one warm-up run
        continue;
      }
      let ops = entry.group === 'native' ? 100_000 : 20_000;
      let ns = 0;
      for (let i = 0; i < 3; i++) ns = (await measure(entry, 1, ops)).nsPerOp;
      ops = Math.round((config.sampleMs * 1e6) / Math.max(ns, 0.05));
      entry.ops = Math.max(1_000, Math.min(ops, 200_000_000));
    }
    log(`calibrated ${entries.length} measurements`);

    // ---- rounds
    const samples: Sample[] = [];
    for (let round = 0; round < config.rounds; round++) {
      const shift = (round * 7) % entries.length;
      const order = [...entries.slice(shift), ...entries.slice(0, shift)];
      for (const entry of order) {
        const threadOrder = round % 2 === 0 ? entry.threads : [...entry.threads].reverse();
        for (const threads of threadOrder) {
          const { nsPerOp, opsPerSec, cores } = await measure(entry, threads, entry.ops);
          samples.push({ group: entry.group, method: entry.method, backend, threads, child: config.child, round, ops: entry.ops, nsPerOp, opsPerSec, cores });
        }
      }
      log(`round ${round + 1}/${config.rounds} done`);
    }

    // ---- exactness: every counter holds exactly the increments made, on every CPU
    const checks: CounterCheck[] = [];
    const check = (name: string, actual: bigint[], bits: number, shared = false) => {
      const perCpu = expected.get(name) ?? Array.from({ length: cpus }, () => 0n);
      const want = shared ? [perCpu.reduce((x, y) => x + y, 0n)] : perCpu;
      const exact = want.length === actual.length && want.every((w, i) => BigInt.asUintN(bits, w) === actual[i]);
      checks.push({ name, backend, expected: want.map(String), actual: actual.map(String), exact });
    };
    const slots = (v: StaticPerCpu<'u32'> | StaticPerCpu<'u64'>) =>
      v.values().map((x) => BigInt(x));
    const wordsByCpu = (index: (cpu: number) => number) => Array.from({ length: cpus }, (_, cpu) => BigInt(a[index(cpu)]!));
    check('js.numAdd', slots(c.js32), 32);
    check('js.numAdd64', slots(c.js64), 64);
    check('js.numInc', slots(c.jsInc), 32);
    check('js.atomicsShared', [BigInt(a[SHARED_INDEX]!)], 32, true);
    check('js.atomicsOwn', wordsByCpu(ownIndex), 32);
    check('js.promInc', (await set.onEachCpu(promCountTask)).map((n) => BigInt(n)), 64);
    check('js.plainOwn', wordsByCpu((cpu) => plainIndex(cpu, cpus)), 32);
    check('experiment.u32', slots(c.exp32), 32);
    check('experiment.u64', slots(c.exp64), 64);
    if (config.primary && !config.callPathOnly) {
      if (backend === 'gs') check('native.gs', slots(c.gs), 64);
      check('native.generic', slots(c.generic), 64);
      check('native.lockOwn', slots(c.lockOwn), 64);
      check('native.lockShared', [nativeBench.sharedCounter()], 64, true);
    }
    const result: ChildResult = { backend, backendDescription: describeBackend(info), cpus, samples, counters: checks };
    fs.writeFileSync(config.out, JSON.stringify(result));
  } finally {
    await set.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench child failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
