/**
 * The benchmark harness (bench/), in its smoke mode: `main.js --quick` runs every measurement a
 * few times, and the test checks the structure of its table, JSON and SVG and that every counter
 * the loops incremented holds exactly the increments (computed here from the quick plan). No
 * timing is asserted. The harness starts its own gs and generic processes, so this passes the
 * same way in either run of the suite. Also: the addon's benchmark exports take handles only,
 * and the call-path experiments count and throw exactly as num().add() does.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { BackendUnavailableError, DynamicPerCpu, NotBoundError, PerCpuRangeError, PerCpuTypeError, ReleasedError, region, thisCpu } from '../lib';
import { BENCH_FAST_ADDON, EXPERIMENTS, handleOf, nativeBench } from '../bench/common';
import { fastPath } from '../lib/core/native';
import type { Report } from '../bench/report';
import { useCpuSet } from './helpers';

const ROOT = path.join(__dirname, '..', '..');
const MAIN = path.join(ROOT, 'dist', 'bench', 'main.js');

/** A small well-formedness check of XML: balanced tags, quoted attributes, escaped text. Returns the root's name. */
function checkXml(text: string): { root: string; counts: Map<string, number> } {
  const body = text.replace(/^<\?xml[^?]*\?>\s*/, '');
  const token = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<&]*(?:&(?:amp|lt|gt|quot|apos|#\d+);[^"<&]*)*")*)\s*(\/?)>/y;
  const stack: string[] = [];
  const counts = new Map<string, number>();
  let root = '';
  let i = 0;
  while (i < body.length) {
    const lt = body.indexOf('<', i);
    const textPart = body.slice(i, lt === -1 ? body.length : lt);
    assert.doesNotMatch(textPart, /&(?!(amp|lt|gt|quot|apos|#\d+);)/, `unescaped & in text: ${textPart.slice(0, 60)}`);
    assert.ok(stack.length > 0 || textPart.trim() === '', `text outside the root element: ${textPart.slice(0, 60)}`);
    if (lt === -1) break;
    token.lastIndex = lt;
    const m = token.exec(body);
    assert.ok(m, `malformed tag at ${lt}: ${body.slice(lt, lt + 80)}`);
    const [all, closing, name, , selfClosing] = m;
    if (closing) {
      assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    } else {
      if (stack.length === 0) {
        assert.equal(root, '', 'more than one root element');
        root = name!;
      }
      counts.set(name!, (counts.get(name!) ?? 0) + 1);
      if (!selfClosing) stack.push(name!);
    }
    i = lt + all.length;
  }
  assert.deepEqual(stack, [], 'unclosed elements');
  return { root, counts };
}

describe('benchmarks: the harness in --quick mode', function () {
  this.timeout(60_000);
  let dir: string;
  let stdout: string;
  let report: Report;
  let svg: string;
  let page: string;

  before(async function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'percpu-bench-test-'));
    const json = path.join(dir, 'bench.json');
    const svgFile = path.join(dir, 'bench.svg');
    const markdown = path.join(dir, 'benchmarks.md');
    ({ stdout } = await promisify(execFile)(process.execPath, [MAIN, '--quick', '--workers', '2', '--json', json, '--svg', svgFile, '--markdown', markdown], {
      encoding: 'utf8',
      maxBuffer: 16 << 20,
    }));
    report = JSON.parse(fs.readFileSync(json, 'utf8')) as Report;
    svg = fs.readFileSync(svgFile, 'utf8');
    page = fs.readFileSync(markdown, 'utf8');
  });

  it('writes the benchmark page (docs/benchmarks.md is made so): the template, then the run as printed', function () {
    const template = fs.readFileSync(path.join(ROOT, 'bench', 'page.md'), 'utf8');
    assert.ok(page.startsWith(template.slice(0, template.indexOf('{{RUN}}'))));
    assert.ok(page.endsWith(`## A run\n\n\`\`\`text\n${stdout.trimEnd()}\n\`\`\`\n`));
    // The committed page comes from the same template.
    const committed = fs.readFileSync(path.join(ROOT, 'docs', 'benchmarks.md'), 'utf8');
    assert.ok(committed.startsWith(template.slice(0, template.indexOf('{{RUN}}'))), 'docs/benchmarks.md was not written from bench/page.md');
  });

  after(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('prints one table with every section and method', function () {
    for (const heading of ['1. Native loops', '2. From JavaScript', 'generic vs gs from JS', '3. Scaling', '4. Reading', '5. Call-path experiments', 'Targets', 'Counters: all 22 exact', `num() through ${fastPath.reason}`]) {
      assert.ok(stdout.includes(heading), `no "${heading}" in the table`);
    }
    for (const row of [...report.native, ...report.js, ...report.reading, ...report.experiments]) {
      assert.ok(stdout.includes(row.label), `no row "${row.label}"`);
    }
  });

  it('measures the four native loops and the empty one, with their instruction counts from objdump', function () {
    assert.deepEqual(report.native.map((r) => r.method), ['empty', 'gs', 'generic', 'lockOwn', 'lockShared']);
    const byMethod = Object.fromEntries(report.native.map((r) => [r.method, r]));
    // The loop body: the op plus the loop's own increment, compare and branch (3).
    assert.equal(byMethod['empty']!.objdump!.body.length, 3);
    assert.deepEqual(
      report.native.map((r) => [r.method, r.objdump!.opInstructions, r.objdump!.gsInstructions, r.objdump!.lockedInstructions]),
      [
        ['empty', 0, 0, 0],
        ['gs', 1, 1, 0],
        ['generic', 10, 0, 0],
        ['lockOwn', 1, 0, 1],
        ['lockShared', 1, 0, 1],
      ],
    );
    assert.match(byMethod['gs']!.objdump!.body.find((i) => i.includes('%gs:'))!, /^add %r[a-z0-9]+,%gs:\(%r[a-z0-9]+\)$/);
    for (const r of report.native) {
      assert.ok(r.single!.nsPerOp > 0 && r.all!.nsPerOp > 0 && r.all!.opsPerSec > 0, `${r.method}: no figures`);
      assert.equal(r.callgrind, null); // only with --callgrind
    }
  });

  it("measures every JS method of the issue's table on one and on all CPUs, on both backends, each against its own empty call", function () {
    assert.deepEqual(
      report.js.map((r) => `${r.method}@${r.backend}`),
      ['empty', 'emptyFast', 'numAdd', 'numAdd64', 'numInc', 'atomicsShared', 'atomicsOwn', 'promInc', 'plainOwn'].flatMap((m) => [`${m}@gs`, `${m}@generic`]),
    );
    for (const r of report.js) {
      assert.ok(r.single!.nsPerOp > 0 && r.all!.nsPerOp > 0 && r.all!.opsPerSec > 0, `${r.key}: no figures`);
      assert.equal(r.single!.samples, 1);
      if (r.method !== 'empty') assert.ok(r.ratioSingle! > 0 && r.ratioAll! > 0, `${r.key}: no ratio`);
    }
    assert.equal(report.backends.gs, `gs (requested by PERCPU_BACKEND=gs; GS base set with ${report.machine.gsMethod})`);
    assert.equal(report.backends.generic, 'generic (requested by PERCPU_BACKEND=generic)');
  });

  it('charts scaling for 1 and 2 CPUs, reading and every call-path experiment', function () {
    assert.deepEqual(
      report.scaling.map((s) => `${s.group}.${s.method}@${s.backend}`),
      ['native.empty@gs', 'native.gs@gs', 'native.generic@gs', 'native.lockShared@gs', 'js.numAdd@gs', 'js.numAdd@generic', 'js.atomicsShared@gs', 'js.atomicsShared@generic'],
    );
    for (const s of report.scaling) assert.deepEqual(s.points.map((p) => p.threads), [1, 2]);
    assert.deepEqual(report.reading.map((r) => r.method), ['empty', 'sum64', 'sum32', 'readRemote64']);
    assert.deepEqual(report.experiments.map((r) => `${r.method}@${r.backend}`), EXPERIMENTS.flatMap((m) => [`${m}@gs`, `${m}@generic`]));
    assert.deepEqual(report.targets.map((t) => t.name), [
      'u32 add vs the empty call',
      "u32 add vs Atomics.add on the thread's own slot",
      'u64 add vs the empty call',
      'All CPUs: num().add() vs shared Atomics.add',
      'Native GS op instructions',
      'No false sharing',
    ]);
    assert.equal(report.targets[4]!.pass, true); // an instruction count, not a timing
  });

  it('leaves every counter with exactly the increments of the quick plan, on every CPU', function () {
    // Quick mode: a native sample is 20 000 iterations a thread, a JS one 2 000 calls; one warm-up
    // on CPU 0, then one round on 1 and on 2 CPUs. CPU 0: 3 samples, CPU 1: 1.
    const native = ['60000', '20000'];
    const js = ['6000', '2000'];
    const actual = Object.fromEntries(report.counters.map((c) => [`${c.name}@${c.backend}`, c.actual]));
    // Every process counts the JS methods and the call-path experiments (4 u32 and 4 u64 call paths
    // add 1 a call, 2 000 calls warm-up + 2 000 measured, on CPU 0 only); the gs one the native loops.
    const perProcess = (backend: string) => ({
      [`js.numAdd@${backend}`]: js,
      [`js.numAdd64@${backend}`]: js,
      [`js.numInc@${backend}`]: js,
      [`js.atomicsShared@${backend}`]: ['8000'],
      [`js.atomicsOwn@${backend}`]: js,
      [`js.promInc@${backend}`]: js,
      [`js.plainOwn@${backend}`]: js,
      [`experiment.u32@${backend}`]: ['16000', '0'],
      [`experiment.u64@${backend}`]: ['16000', '0'],
    });
    assert.deepEqual(actual, {
      ...perProcess('gs'),
      'native.gs@gs': native,
      'native.generic@gs': native,
      'native.lockOwn@gs': native,
      'native.lockShared@gs': ['80000'],
      ...perProcess('generic'),
    });
    assert.ok(report.counters.every((c) => c.exact && c.expected.join() === c.actual.join()));
    assert.equal(report.allExact, true);
  });

  it('writes a well-formed SVG: bars by method, a line per scaling series', function () {
    const { root, counts } = checkXml(svg);
    assert.equal(root, 'svg');
    assert.match(svg, /<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="\d+" height="\d+"/);
    assert.equal(counts.get('polyline'), report.scaling.length);
    // One bar per (method, thread count) of the native and JS charts, plus the background and the legends.
    assert.equal(counts.get('rect'), 1 + 2 * 2 + 2 * (report.native.length + report.js.length));
    for (const r of report.native) assert.ok(svg.includes(`>${r.label.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}<`));
  });
});

describe('benchmarks: the per-Node-line call-path table in --quick mode', function () {
  this.timeout(60_000);

  it("runs the call-path benchmark under this Node's line and prints the table side by side, the backend gap and the targets", async function () {
    const major = process.versions.node.split('.')[0]!;
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(ROOT, 'dist', 'bench', 'node-lines.js'), '--quick', '--lines', major, '--workers', '2'], {
      encoding: 'utf8',
      maxBuffer: 16 << 20,
    });
    const lines = stdout.split('\n');
    assert.ok(lines.includes(`  Node ${process.version} (V8 ${process.versions.v8}): num() through ${fastPath.reason}`), stdout);
    assert.match(stdout, new RegExp(`^method +\\| backend \\| +${major}: ns \\| ${major}: x empty \\| ${major}: ns agg 2$`, 'm'));
    for (const label of ['empty raw Node-API call (the floor)', "empty V8 fast API call (an op's floor)", 'num().add(1) on a u32', 'num().add(1n) on a u64', 'num().inc() on a u32', 'Atomics.add, one shared counter', 'Atomics.add, per-worker padded slot', 'prom-client Counter.inc(), a registry per worker', 'Int32Array ++, per-worker padded slot']) {
      assert.equal(lines.filter((l) => l.startsWith(`${label} `)).length, 2, `${label}: one row per backend`);
    }
    assert.ok(lines.some((l) => l.startsWith(`  Node ${major}: num().add(1) on a u32 generic/gs `)), stdout);
    assert.ok(lines.includes(`Targets on Node ${major} (${process.version})`), stdout);
    assert.ok(lines.includes('  counters: all 18 exact'), stdout);
  });
});

describe("benchmarks: the fast-call floor (percpu_bench_fast.node)", function () {
  it('its empty function, optimized by TurboFan, runs in its fast C function: no slow call', async function () {
    this.timeout(30000);
    const script = `
      const floor = require(${JSON.stringify(BENCH_FAST_ADDON)});
      const o = { add: floor.makeEmptyFast() };
      function loop(n) { for (let i = 0; i < n; i++) o.add(1); }
      %PrepareFunctionForOptimization(loop); loop(10); %OptimizeFunctionOnNextCall(loop); loop(10);
      const before = floor.slowCalls(); loop(1000);
      console.log(JSON.stringify({ fastCalls: floor.fastCalls, slow: String(floor.slowCalls() - before) }));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--allow-natives-syntax', '-e', script], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(stdout), { fastCalls: true, slow: '0' });
  });
});

describe('benchmarks: the addon exports', function () {
  useCpuSet();

  it('runs a loop on a handle only, on a bound thread, and counts exactly', function () {
    using counter = DynamicPerCpu.newZero('u64');
    const h = handleOf(counter);
    const methods = Object.keys(nativeBench.loops);
    assert.deepEqual(methods, ['empty', 'gs', 'generic', 'lockOwn', 'lockShared']);
    nativeBench.resetSharedCounter();
    const backend = region()!.backend;
    for (const method of ['empty', 'generic', 'lockOwn', 'lockShared'] as const) {
      const [start, end] = nativeBench.loop(method, h, 1000);
      assert.ok(end >= start);
    }
    if (backend === 'gs') nativeBench.loop('gs', h, 1000);
    else assert.throws(() => nativeBench.loop('gs', h, 1000), BackendUnavailableError);
    assert.equal(counter.readRemote(0), backend === 'gs' ? 3000n : 2000n);
    assert.equal(counter.sum(), counter.readRemote(0));
    assert.equal(nativeBench.sharedCounter(), 1000n);
    assert.throws(() => nativeBench.loop('gs', { offset: 64 } as never, 1), PerCpuTypeError);
    assert.throws(() => nativeBench.loop('generic', 64 as never, 1), PerCpuTypeError);
    assert.throws(() => nativeBench.loop('nope' as never, h, 1), PerCpuTypeError);
    assert.throws(() => nativeBench.loop('generic', h, 1.5), PerCpuTypeError);
    assert.throws(() => nativeBench.loop('generic', handleOf(DynamicPerCpu.newZero('u32')), 1), PerCpuTypeError);
    const released = DynamicPerCpu.newZero('u64');
    const releasedHandle = handleOf(released);
    released.release();
    assert.throws(() => nativeBench.loop('generic', releasedHandle, 1), ReleasedError);
    assert.equal(counter.sum(), backend === 'gs' ? 3000n : 2000n);
  });

  it('both call paths of num() (accelerator and Node-API) add exactly and throw the same errors', function () {
    using u32 = DynamicPerCpu.newZero('u32');
    const paths = { accel: u32.num(), napi: handleOf(u32).ops(true) } as Record<string, Record<string, (...v: unknown[]) => unknown>>;
    for (const ops of Object.values(paths)) {
      ops['add']!(1);
      ops['inc']!();
      ops['add']!(4294967295); // past the fast path: the exact conversion, wrapping like the machine
    }
    assert.equal(u32.readRemote(0), 2);
    for (const [name, ops] of Object.entries(paths)) {
      assert.throws(() => ops['add']!(-1), PerCpuRangeError, name);
      assert.throws(() => ops['add']!(4294967296), PerCpuRangeError, name);
      assert.throws(() => ops['add']!(1.5), PerCpuTypeError, name);
      assert.throws(() => ops['add']!(1n), PerCpuTypeError, name);
      assert.throws(() => ops['add']!(), PerCpuTypeError, name);
    }
    using u64 = DynamicPerCpu.newZero('u64');
    for (const ops of [u64.num(), handleOf(u64).ops(true)] as Record<string, (...v: unknown[]) => unknown>[]) {
      ops['add']!(2n ** 64n - 1n);
      ops['inc']!();
      assert.throws(() => ops['add']!(2n ** 64n), PerCpuRangeError);
      assert.throws(() => ops['add']!(1), PerCpuTypeError);
    }
    assert.equal(u64.readRemote(0), 0n);
    u32.release();
    for (const ops of Object.values(paths)) assert.throws(() => ops['add']!(1), ReleasedError);
  });
});

describe('benchmarks: the addon exports on a thread that is not a CPU', function () {
  it('refuse to run: NotBoundError, from the loops and from both call paths', function () {
    assert.equal(region()!.cpus > 0 && thisCpu(), null);
    using u32 = DynamicPerCpu.newZero('u32');
    using u64 = DynamicPerCpu.newZero('u64');
    for (const method of ['empty', 'gs', 'generic', 'lockOwn', 'lockShared'] as const) {
      assert.throws(() => nativeBench.loop(method, handleOf(u64), 1), NotBoundError);
    }
    for (const ops of [u32.num(), handleOf(u32).ops(true)] as Record<string, (...v: unknown[]) => unknown>[]) {
      for (const name of ['add', 'inc']) assert.throws(() => ops[name]!(1), NotBoundError, name);
    }
    assert.deepEqual(u32.values(), u32.values().map(() => 0));
    assert.equal(u64.sum(), 0n);
  });
});
