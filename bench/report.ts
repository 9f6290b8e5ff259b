/**
 * The benchmark report: medians and ratios from the raw samples, the targets, the table printed
 * on stdout and the SVG chart. Plain functions of data, no I/O.
 */
import { LABELS, median, type Backend, type CounterCheck, type Group, type Sample } from './common';
import type { LoopBody } from './disasm';

export interface Machine {
  cpuModel: string;
  cores: number;
  os: string;
  node: string;
  v8: string;
  /** How num() ran: fastPath.reason (the accelerator, or why the Node-API path). */
  fastPath: string;
  gsMethod: string | null;
  date: string;
}

export interface Config {
  workers: number;
  rounds: number;
  processesPerBackend: number;
  sampleMs: number;
  quick: boolean;
  /** Only the call paths from JS were measured (--call-path). */
  callPathOnly: boolean;
}

/** A median over samples, and how many samples it has. */
export interface Stat {
  nsPerOp: number;
  opsPerSec: number;
  /** CPU time over wall time: the cores the run got. */
  cores: number;
  samples: number;
}

export interface Row {
  key: string;
  group: Group;
  method: string;
  backend: Backend;
  label: string;
  /** One thread, and all CPUs (workers) at once. */
  single: Stat | null;
  all: Stat | null;
  /** ns per op over the empty call's (or empty loop's), per run, median: single thread and all CPUs. */
  ratioSingle: number | null;
  ratioAll: number | null;
}

export interface NativeRow extends Row {
  objdump: LoopBody | null;
  /** callgrind Ir per iteration of the loop, and minus the empty loop's (the op's own). */
  callgrind: { irPerIteration: number; opIr: number } | null;
}

export interface ScalingSeries {
  key: string;
  group: Group;
  method: string;
  backend: Backend;
  label: string;
  points: { threads: number; opsPerSec: number; cores: number; samples: number }[];
}

export interface Target {
  name: string;
  goal: string;
  value: number | null;
  measured: string;
  pass: boolean | null;
}

export interface Report {
  machine: Machine;
  config: Config;
  backends: Partial<Record<Backend, string>>;
  native: NativeRow[];
  js: Row[];
  scaling: ScalingSeries[];
  reading: Row[];
  experiments: Row[];
  targets: Target[];
  counters: CounterCheck[];
  allExact: boolean;
  samples: Sample[];
}

// ---------------------------------------------------------------- aggregation
const keyOf = (s: { group: string; method: string; backend: string }) => `${s.group}.${s.method}@${s.backend}`;

function select(samples: Sample[], group: Group, method: string, backend: Backend, threads: number): Sample[] {
  return samples.filter((s) => s.group === group && s.method === method && s.backend === backend && s.threads === threads);
}

function stat(samples: Sample[]): Stat | null {
  if (samples.length === 0) return null;
  return {
    nsPerOp: median(samples.map((s) => s.nsPerOp)),
    opsPerSec: median(samples.map((s) => s.opsPerSec)),
    cores: median(samples.map((s) => s.cores)),
    samples: samples.length,
  };
}

/** Median over runs (same child, same round) of f(a) / f(b). */
function pairedRatio(a: Sample[], b: Sample[], f: (s: Sample) => number): number | null {
  return pairedRatios(a, b, f).median;
}

function pairedRatios(a: Sample[], b: Sample[], f: (s: Sample) => number, keep: (x: Sample, y: Sample) => boolean = () => true) {
  const ratios: number[] = [];
  for (const x of a) {
    const y = b.find((s) => s.child === x.child && s.round === x.round);
    if (y !== undefined && f(y) > 0 && keep(x, y)) ratios.push(f(x) / f(y));
  }
  return { median: ratios.length > 0 ? median(ratios) : null, runs: ratios.length };
}

/** A run of `threads` threads that got at least 90% of its cores (a shared machine may not give them). */
const hadItsCores = (s: Sample) => s.cores >= 0.9 * s.threads;

function row(samples: Sample[], group: Group, method: string, backend: Backend, cpus: number, floor: string | null): Row {
  const single = select(samples, group, method, backend, 1);
  const all = select(samples, group, method, backend, cpus);
  const ns = (s: Sample) => s.nsPerOp;
  return {
    key: keyOf({ group, method, backend }),
    group,
    method,
    backend,
    label: LABELS[`${group}.${method}`] ?? method,
    single: stat(single),
    all: cpus > 1 ? stat(all) : null,
    ratioSingle: floor === null ? null : pairedRatio(single, select(samples, group, floor, backend, 1), ns),
    ratioAll: floor === null || cpus === 1 ? null : pairedRatio(all, select(samples, group, floor, backend, cpus), ns),
  };
}

/** Distinct (method, backend) pairs of a group, in the order first seen. */
function methodsOf(samples: Sample[], group: Group): { method: string; backend: Backend }[] {
  const seen = new Map<string, { method: string; backend: Backend }>();
  for (const s of samples) if (s.group === group) seen.set(`${s.method}@${s.backend}`, { method: s.method, backend: s.backend });
  return [...seen.values()];
}

export function buildReport(input: {
  machine: Machine;
  config: Config;
  backends: Partial<Record<Backend, string>>;
  samples: Sample[];
  counters: CounterCheck[];
  loops: LoopBody[] | null;
  callgrind: Record<string, number> | null;
  nativeOrder: readonly string[];
  jsOrder: readonly string[];
  readOrder: readonly string[];
  experimentOrder: readonly string[];
  /** The methods whose throughput is charted against the thread count: "group.method". */
  scalingMethods: readonly string[];
}): Report {
  const { samples, config } = input;
  const cpus = config.workers;
  const order = (list: { method: string; backend: Backend }[], ranked: readonly string[]) =>
    [...list].sort((a, b) => ranked.indexOf(a.method) - ranked.indexOf(b.method) || (a.backend === 'gs' ? -1 : 1));
  const emptyIr = input.callgrind?.['empty'];
  const native: NativeRow[] = order(methodsOf(samples, 'native'), input.nativeOrder).map(({ method, backend }) => {
    const ir = input.callgrind?.[method];
    return {
      ...row(samples, 'native', method, backend, cpus, method === 'empty' ? null : 'empty'),
      objdump: input.loops?.find((l) => l.method === method) ?? null,
      callgrind: ir === undefined ? null : { irPerIteration: ir, opIr: emptyIr === undefined ? NaN : ir - emptyIr },
    };
  });
  const js = order(methodsOf(samples, 'js'), input.jsOrder).map(({ method, backend }) => row(samples, 'js', method, backend, cpus, 'empty'));
  const reading = order(methodsOf(samples, 'read'), input.readOrder).map(({ method, backend }) => row(samples, 'read', method, backend, 1, 'empty'));
  const experiments = order(methodsOf(samples, 'experiment'), input.experimentOrder).map(({ method, backend }) =>
    row(samples, 'experiment', method, backend, 1, 'emptyCall'),
  );
  const scaling: ScalingSeries[] = [];
  for (const group of ['native', 'js'] as const) {
    for (const { method, backend } of order(methodsOf(samples, group), group === 'native' ? input.nativeOrder : input.jsOrder)) {
      if (!input.scalingMethods.includes(`${group}.${method}`)) continue;
      const threads = [...new Set(samples.filter((s) => s.group === group && s.method === method && s.backend === backend).map((s) => s.threads))].sort((a, b) => a - b);
      if (threads.length !== cpus || cpus < 2) continue; // only the methods measured on every count
      scaling.push({
        key: keyOf({ group, method, backend }),
        group,
        method,
        backend,
        label: `${group === 'native' ? 'native' : 'JS'} ${LABELS[`${group}.${method}`] ?? method}${group === 'js' && method.startsWith('numAdd') ? ` [${backend}]` : ''}`,
        points: threads.map((t) => {
          const s = select(samples, group, method, backend, t);
          return { threads: t, opsPerSec: median(s.map((x) => x.opsPerSec)), cores: median(s.map((x) => x.cores)), samples: s.length };
        }),
      });
    }
  }
  const targets = buildTargets(samples, native, js, cpus);
  return {
    machine: input.machine,
    config,
    backends: input.backends,
    native,
    js,
    scaling,
    reading,
    experiments,
    targets,
    counters: input.counters,
    allExact: input.counters.length > 0 && input.counters.every((c) => c.exact),
    samples,
  };
}

/** The gs rows' backend where there is one (the targets are the gs backend's), else generic. */
function primaryBackend(js: Row[]): Backend {
  return js.some((r) => r.backend === 'gs') ? 'gs' : 'generic';
}

function buildTargets(samples: Sample[], native: NativeRow[], js: Row[], cpus: number): Target[] {
  const targets: Target[] = [];
  const fmt = (x: number | null, digits = 2) => (x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(digits));
  const fx = (x: number | null) => (x === null || !Number.isFinite(x) ? 'n/a' : `${x.toFixed(2)}x`);
  const backend = primaryBackend(js);
  const jsRow = (method: string, b: Backend = backend) => js.find((r) => r.method === method && r.backend === b);
  const other = (method: string) => js.filter((r) => r.method === method && r.backend !== backend).map((r) => `${r.backend} ${fx(r.ratioSingle)}`).join(', ');
  const ns = (s: Sample) => s.nsPerOp;

  // A num() op's ratio to the empty call, one thread, against `limit`.
  const vsEmpty = (name: string, method: string, goal: string, limit: number) => {
    const r = jsRow(method);
    const ratio = r?.ratioSingle ?? null;
    targets.push({
      name,
      goal,
      value: ratio,
      measured: `${backend} ${fx(ratio)} (${fmt(r?.single?.nsPerOp ?? null)} ns)${other(method) ? `; ${other(method)}` : ''}`,
      pass: ratio === null ? null : ratio <= limit,
    });
  };
  const add = jsRow('numAdd');
  vsEmpty('u32 add vs the empty call', 'numAdd', 'num().add(1) on a u32 from optimized JS <= 0.35x the empty raw Node-API call, same run', 0.35);

  const vsAtomics = pairedRatio(select(samples, 'js', 'numAdd', backend, 1), select(samples, 'js', 'atomicsOwn', backend, 1), ns);
  targets.push({
    name: "u32 add vs Atomics.add on the thread's own slot",
    goal: "num().add(1) on a u32 <= Atomics.add on the thread's own padded slot, one thread, same run",
    value: vsAtomics,
    measured: `${backend} ${fx(vsAtomics)} (${fmt(add?.single?.nsPerOp ?? null)} vs ${fmt(jsRow('atomicsOwn')?.single?.nsPerOp ?? null)} ns)`,
    pass: vsAtomics === null ? null : vsAtomics <= 1,
  });

  vsEmpty(
    'u64 add vs the empty call',
    'numAdd64',
    'num().add(1n) on a u64 <= 0.5x the empty raw Node-API call, same run (every declared V8 line has its fast C function)',
    0.5,
  );

  const pair = (a: Sample[], b: Sample[]) => pairedRatio(a, b, (s) => s.opsPerSec);
  const allAdd = select(samples, 'js', 'numAdd', backend, cpus);
  const allAtomics = select(samples, 'js', 'atomicsShared', backend, cpus);
  const throughput = cpus > 1 ? pair(allAdd, allAtomics) : null;
  const withCores = pairedRatios(allAdd, allAtomics, (s) => s.opsPerSec, (x, y) => hadItsCores(x) && hadItsCores(y));
  targets.push({
    name: 'All CPUs: num().add() vs shared Atomics.add',
    goal: `aggregate num().add() >= 3x Atomics.add on one shared counter, ${cpus} CPUs`,
    value: throughput,
    measured:
      `${backend} ${fx(throughput)} (${fmt(median(allAdd.map((s) => s.opsPerSec)) / 1e6, 1)} vs ${fmt(median(allAtomics.map((s) => s.opsPerSec)) / 1e6, 1)} Mops/s; ` +
      `cores obtained ${fmt(median(allAdd.map((s) => s.cores)), 1)} and ${fmt(median(allAtomics.map((s) => s.cores)), 1)} of ${cpus}); ` +
      `in the runs that got their cores: ${fx(withCores.median)} (${withCores.runs} of ${allAdd.length})`,
    pass: throughput === null ? null : throughput >= 3,
  });

  const gs = native.find((r) => r.method === 'gs');
  const generic = native.find((r) => r.method === 'generic');
  const gsInsns = gs?.objdump?.opInstructions ?? null;
  const gsIr = gs?.callgrind?.opIr ?? null;
  targets.push({
    name: 'Native GS op instructions',
    goal: 'the GS op is one instruction per op (generic reported beside it)',
    value: gsInsns,
    measured:
      `gs ${gsInsns ?? 'n/a'} (objdump; ${gs?.objdump?.gsInstructions ?? 'n/a'} gs-prefixed in the body)` +
      `${gsIr !== null ? `, ${fmt(gsIr, 3)} Ir/op (callgrind)` : ''}; generic ${generic?.objdump?.opInstructions ?? 'n/a'} (objdump)` +
      `${generic?.callgrind ? `, ${fmt(generic.callgrind.opIr, 3)} Ir/op (callgrind)` : ''}`,
    pass: gs?.objdump ? gsInsns === 1 && gs.objdump.gsInstructions === 1 && (gsIr === null || Math.round(gsIr) === 1) : null,
  });

  const one = select(samples, 'native', 'gs', 'gs', 1);
  const two = select(samples, 'native', 'gs', 'gs', 2);
  const scale = cpus >= 2 && one.length > 0 ? pair(two, one) : null;
  // The control: the empty loop touches no memory, so its scaling is what the cores give.
  const control = cpus >= 2 ? pair(select(samples, 'native', 'empty', 'gs', 2), select(samples, 'native', 'empty', 'gs', 1)) : null;
  const scaleWithCores = pairedRatios(two, one, (s) => s.opsPerSec, (x) => hadItsCores(x));
  targets.push({
    name: 'No false sharing',
    goal: 'native GS loop, 2 workers >= 1.8x one worker (aggregate)',
    value: scale,
    measured:
      scale === null
        ? 'n/a (needs the gs backend and --workers 2 or more)'
        : `${fx(scale)} (${fmt(median(two.map((s) => s.opsPerSec)) / 1e6, 0)} vs ${fmt(median(one.map((s) => s.opsPerSec)) / 1e6, 0)} Mops/s; ` +
          `cores obtained ${fmt(median(two.map((s) => s.cores)), 1)} of 2); control, the empty loop (no memory access): ${fx(control)}; ` +
          `in the runs that got their cores: ${fx(scaleWithCores.median)} (${scaleWithCores.runs} of ${two.length})`,
    pass: scale === null ? null : scale >= 1.8,
  });
  return targets;
}

/** The num() rows measured on both backends: each one's ratio to its own empty call, one thread. */
export function backendGap(js: Row[]): { method: string; gs: number; generic: number }[] {
  const ratio = (method: string, backend: Backend) => js.find((r) => r.method === method && r.backend === backend)?.ratioSingle ?? null;
  return ['numAdd', 'numAdd64', 'numInc'].flatMap((method) => {
    const gs = ratio(method, 'gs');
    const generic = ratio(method, 'generic');
    return gs === null || generic === null ? [] : [{ method, gs, generic }];
  });
}

// ---------------------------------------------------------------- the table
/** A text table: the first `left` columns left-aligned, the others right-aligned. */
export function table(header: string[], rows: string[][], left = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}

const ns = (s: Stat | null | undefined) => (s ? s.nsPerOp.toFixed(2) : '-');
const mops = (s: Stat | null | undefined) => (s ? (s.opsPerSec / 1e6).toFixed(1) : '-');
/** A ratio as "1.23x", or "-". */
export const x = (r: number | null | undefined) => (r === null || r === undefined || !Number.isFinite(r) ? '-' : `${r.toFixed(2)}x`);

export function formatTable(report: Report): string {
  const { machine, config } = report;
  const n = config.workers;
  const out: string[] = [];
  out.push(
    `percpu benchmarks: ${machine.cpuModel}, ${machine.cores} cores, ${machine.os}, Node ${machine.node} (V8 ${machine.v8}), ${machine.date}`,
  );
  for (const [backend, why] of Object.entries(report.backends)) out.push(`  ${backend} process: ${why}`);
  out.push(`  num() through ${machine.fastPath}`);
  out.push(
    `  medians of ${config.rounds} round(s) x ${config.processesPerBackend} process(es) per backend, about ${config.sampleMs} ms a sample; ` +
      `"${n} CPUs" = ${n} threads (CPU 0 is the main thread) started together${config.quick ? '; QUICK (smoke) mode: figures are not meaningful' : ''}`,
  );

  if (report.native.length > 0) out.push('', '1. Native loops (the op run N times inside the addon, no JS call); instructions per op = loop body minus the empty loop');
  if (report.native.length > 0) out.push(
    table(
      ['method', 'insns/op objdump', 'Ir/op callgrind', 'ns/op 1 thread', `ns/op/thread ${n} CPUs`, `Mops/s ${n} CPUs`],
      report.native.map((r) => [
        r.label,
        r.objdump ? `${r.method === 'empty' ? `${r.objdump.body.length} (loop)` : r.objdump.opInstructions} ${r.objdump.gsInstructions ? `[${r.objdump.gsInstructions} gs]` : r.objdump.lockedInstructions ? '[lock]' : ''}`.trim() : '-',
        r.callgrind ? (r.method === 'empty' ? `${r.callgrind.irPerIteration.toFixed(3)} (loop)` : r.callgrind.opIr.toFixed(3)) : '-',
        ns(r.single),
        ns(r.all),
        mops(r.all),
      ]),
    ),
  );

  out.push(
    '',
    `2. From JavaScript, ns per update: one thread, and aggregate with ${n} CPUs busy (all updates over the wall time); ` +
      'ratios to the empty raw Node-API call of the same process and round',
  );
  out.push(
    table(
      ['method', 'backend', 'ns 1 thread', `ns aggregate ${n} CPUs`, 'x empty 1 thread', `x empty ${n} CPUs`, `Mops/s ${n} CPUs`],
      report.js.map((r) => [
        r.label,
        r.backend,
        ns(r.single),
        r.all ? (1e9 / r.all.opsPerSec).toFixed(2) : '-',
        r.method === 'empty' ? '1.00x' : x(r.ratioSingle),
        r.method === 'empty' ? '1.00x' : x(r.ratioAll),
        mops(r.all),
      ]),
    ),
  );
  const gap = backendGap(report.js);
  if (gap.length > 0) {
    out.push(
      '',
      '   generic vs gs from JS (each over its own process\'s empty call, one thread): ' +
        gap.map((g) => `${LABELS[`js.${g.method}`] ?? g.method}: gs ${x(g.gs)}, generic ${x(g.generic)}, generic/gs ${x(g.generic / g.gs)}`).join('; '),
    );
  }

  if (report.scaling.length > 0) {
    out.push('', '3. Scaling: aggregate Mops/s by number of CPUs (threads) running at once, (cores obtained: their CPU time over the wall time)');
    const counts = report.scaling[0]!.points.map((p) => p.threads);
    out.push(
      table(
        ['method', 'backend', ...counts.map(String), `${counts[counts.length - 1]}/1`],
        report.scaling.map((s) => [
          s.label,
          s.backend,
          ...s.points.map((p) => `${(p.opsPerSec / 1e6).toFixed(1)} (${p.cores.toFixed(1)})`),
          x(s.points[s.points.length - 1]!.opsPerSec / s.points[0]!.opsPerSec),
        ]),
      ),
    );
  }

  if (report.reading.length > 0) {
    out.push('', `4. Reading (single thread, a region of ${n} CPUs)`);
    out.push(table(['method', 'ns/call', 'x empty'], report.reading.map((r) => [r.label, ns(r.single), r.method === 'empty' ? '' : x(r.ratioSingle)])));
  }

  if (report.experiments.length > 0) {
    out.push('', "5. Call-path experiments (single thread): each op through the accelerator and through the binding's Node-API callbacks, per call and over the empty raw Node-API call");
    out.push(
      table(
        ['variant', 'backend', 'ns/call', 'x empty'],
        report.experiments.map((r) => [r.label, r.backend, ns(r.single), r.method === 'emptyCall' ? '' : x(r.ratioSingle)]),
      ),
    );
  }

  out.push('', 'Targets');
  for (const t of report.targets) {
    out.push(`- ${t.name}: ${t.pass === null ? 'n/a' : t.pass ? 'met' : 'NOT met'}: ${t.measured}`, `    (goal: ${t.goal})`);
  }
  const bad = report.counters.filter((c) => !c.exact);
  out.push(
    '',
    bad.length === 0
      ? `Counters: all ${report.counters.length} exact (every counter, on every CPU, holds exactly the increments the loops made)`
      : `Counters: ${bad.length} NOT exact: ${bad.map((c) => `${c.name} [${c.backend}] expected ${c.expected.join(',')} got ${c.actual.join(',')}`).join('; ')}`,
  );
  return out.join('\n');
}

// ---------------------------------------------------------------- the SVG chart
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2'];

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= v) ?? 10 * p;
}

/** Horizontal bars: one group per row, one bar per series. Returns the SVG and its height. */
function barChart(x: number, y: number, width: number, title: string, series: string[], rows: { label: string; values: (number | null)[] }[]): [string, number] {
  const labelWidth = 330;
  const barH = 11;
  const rowH = barH * series.length + 8;
  const plotW = width - labelWidth - 60;
  const max = niceMax(Math.max(...rows.flatMap((r) => r.values.filter((v): v is number => v !== null))));
  const parts: string[] = [`<text x="${x}" y="${y + 14}" font-size="14" font-weight="bold">${esc(title)}</text>`];
  series.forEach((name, i) => {
    const lx = x + labelWidth + i * 170;
    parts.push(`<rect x="${lx}" y="${y + 22}" width="10" height="10" fill="${COLORS[i]}"/>`, `<text x="${lx + 14}" y="${y + 31}" font-size="11">${esc(name)}</text>`);
  });
  const top = y + 42;
  rows.forEach((r, ri) => {
    const ry = top + ri * rowH;
    parts.push(`<text x="${x + labelWidth - 6}" y="${ry + rowH / 2 + 3}" font-size="11" text-anchor="end">${esc(r.label)}</text>`);
    r.values.forEach((v, si) => {
      if (v === null) return;
      const w = Math.max(1, (v / max) * plotW);
      const by = ry + 2 + si * barH;
      parts.push(
        `<rect x="${x + labelWidth}" y="${by}" width="${w.toFixed(1)}" height="${barH - 2}" fill="${COLORS[si]}"/>`,
        `<text x="${(x + labelWidth + w + 4).toFixed(1)}" y="${by + barH - 3}" font-size="10">${v.toFixed(2)}</text>`,
      );
    });
  });
  const bottom = top + rows.length * rowH;
  for (let i = 0; i <= 4; i++) {
    const gx = x + labelWidth + (plotW * i) / 4;
    parts.push(
      `<line x1="${gx.toFixed(1)}" y1="${top}" x2="${gx.toFixed(1)}" y2="${bottom}" stroke="#ccc" stroke-width="0.5"/>`,
      `<text x="${gx.toFixed(1)}" y="${bottom + 12}" font-size="10" text-anchor="middle">${+((max * i) / 4).toPrecision(3)}</text>`,
    );
  }
  parts.push(`<text x="${x + labelWidth + plotW / 2}" y="${bottom + 26}" font-size="11" text-anchor="middle">ns per op (lower is better)</text>`);
  return [parts.join('\n'), bottom + 34 - y];
}

/** Lines of aggregate Mops/s against thread count. */
function lineChart(x: number, y: number, width: number, height: number, title: string, series: ScalingSeries[]): string {
  const left = 60;
  const plotW = width - left - 330;
  const plotH = height - 60;
  const top = y + 26;
  const counts = series[0]?.points.map((p) => p.threads) ?? [1];
  const maxT = Math.max(...counts);
  const minT = Math.min(...counts);
  const max = niceMax(Math.max(...series.flatMap((s) => s.points.map((p) => p.opsPerSec / 1e6))));
  const px = (t: number) => x + left + (maxT === minT ? plotW / 2 : ((t - minT) / (maxT - minT)) * plotW);
  const py = (v: number) => top + plotH - (v / max) * plotH;
  const parts: string[] = [`<text x="${x}" y="${y + 14}" font-size="14" font-weight="bold">${esc(title)}</text>`];
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    parts.push(
      `<line x1="${x + left}" y1="${py(v).toFixed(1)}" x2="${x + left + plotW}" y2="${py(v).toFixed(1)}" stroke="#ccc" stroke-width="0.5"/>`,
      `<text x="${x + left - 6}" y="${(py(v) + 3).toFixed(1)}" font-size="10" text-anchor="end">${+v.toPrecision(3)}</text>`,
    );
  }
  for (const t of counts) parts.push(`<text x="${px(t).toFixed(1)}" y="${top + plotH + 14}" font-size="10" text-anchor="middle">${t}</text>`);
  parts.push(
    `<text x="${x + left + plotW / 2}" y="${top + plotH + 28}" font-size="11" text-anchor="middle">CPUs (threads) at once</text>`,
    `<text x="${x + 12}" y="${top + plotH / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 ${x + 12} ${top + plotH / 2})">aggregate Mops/s</text>`,
  );
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const points = s.points.map((p) => `${px(p.threads).toFixed(1)},${py(p.opsPerSec / 1e6).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${points}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const p of s.points) parts.push(`<circle cx="${px(p.threads).toFixed(1)}" cy="${py(p.opsPerSec / 1e6).toFixed(1)}" r="3" fill="${color}"/>`);
    const ly = top + 10 + i * 16;
    parts.push(
      `<line x1="${x + left + plotW + 20}" y1="${ly - 4}" x2="${x + left + plotW + 36}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${x + left + plotW + 40}" y="${ly}" font-size="11">${esc(s.label)}</text>`,
    );
  });
  return parts.join('\n');
}

export function renderSvg(report: Report): string {
  const width = 960;
  const n = report.config.workers;
  const series = ['1 thread', `per thread, ${n} CPUs at once`];
  let y = 10;
  const body: string[] = [];
  const [nativeSvg, nativeH] = barChart(
    20,
    y,
    width - 40,
    'Native loop: ns per op by method',
    series,
    report.native.map((r) => ({ label: r.label, values: [r.single?.nsPerOp ?? null, r.all?.nsPerOp ?? null] })),
  );
  body.push(nativeSvg);
  y += nativeH + 10;
  const [jsSvg, jsH] = barChart(
    20,
    y,
    width - 40,
    'From JavaScript: ns per call by method',
    series,
    report.js.map((r) => ({ label: `${r.label} [${r.backend}]`, values: [r.single?.nsPerOp ?? null, r.all?.nsPerOp ?? null] })),
  );
  body.push(jsSvg);
  y += jsH + 10;
  for (const group of ['native', 'js'] as const) {
    const s = report.scaling.filter((x) => x.group === group);
    if (s.length === 0) continue;
    body.push(lineChart(20, y, width - 40, 260, `Scaling (${group === 'native' ? 'native loop' : 'from JavaScript'}): aggregate throughput by CPUs`, s));
    y += 270;
  }
  const m = report.machine;
  body.push(`<text x="20" y="${y + 14}" font-size="10" fill="#555">${esc(`${m.cpuModel}, ${m.cores} cores, Node ${m.node}, ${m.date}`)}</text>`);
  y += 24;
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="sans-serif">`,
    `<rect width="${width}" height="${y}" fill="white"/>`,
    ...body,
    `</svg>`,
    '',
  ].join('\n');
}
