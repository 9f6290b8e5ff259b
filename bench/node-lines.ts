/**
 * The call-path table from JS on every Node line of scripts/node-lines.json (`npm run
 * bench:node-lines`): each line's node binary (scripts/node-lines.js installs it) runs the whole
 * benchmark harness, `dist/bench/main.js --call-path`, whose processes all run under that node
 * (it spawns them with process.execPath), with that line's accelerator: the one built here for the
 * running Node, the prebuilt one (native/accel/prebuilds, made by scripts/prebuild.js, which
 * rebuilds nothing when they are up to date) for the others. Prints one table, the lines side by
 * side, then each line's targets.
 *
 *   npm run bench:node-lines -- [--lines 20,22,24] [--json FILE] [any option of bench/main.ts]
 *
 * --quick (forwarded to each line's run) makes it the smoke test test/bench.test.ts runs.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { backendGap, table, x, type Report, type Row } from './report';
import { LABELS } from './common';

const ROOT = path.join(__dirname, '..', '..');
const { nodeLine, LINES } = require(path.join(ROOT, 'scripts', 'node-lines.js')) as {
  nodeLine(major: string): { major: string; version: string; node: string; nodedir: string; abi: string };
  LINES: string[];
};

export interface LineReport {
  major: string;
  version: string;
  report: Report;
}

const progress = (text: string) => process.stderr.write(`${text}\n`);

/** This script's own options out of argv (node:util parseArgs); the rest goes, as given, to each line's bench/main.ts. */
function parse(argv: string[]): { lines: string[]; json: string | null; forwarded: string[] } {
  const { values, tokens } = parseArgs({
    args: argv,
    options: { lines: { type: 'string' }, json: { type: 'string' } },
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const forwarded: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'positional') forwarded.push(token.value);
    else if (token.kind === 'option-terminator') forwarded.push('--');
    else if (token.name !== 'lines' && token.name !== 'json') forwarded.push(token.inlineValue ? `${token.rawName}=${token.value}` : token.rawName);
  }
  for (const name of ['lines', 'json'] as const) {
    if (name in values && typeof values[name] !== 'string') throw new Error(`--${name} needs a value`);
  }
  const lines = typeof values.lines === 'string' ? values.lines.split(',') : LINES;
  for (const line of lines) if (!LINES.includes(line)) throw new Error(`no Node line ${line} in scripts/node-lines.json (${LINES.join(', ')})`);
  return { lines, json: typeof values.json === 'string' ? values.json : null, forwarded };
}

/**
 * The fast-call floor module (native/bench/fast_floor.cc) built for another line's ABI, in a
 * scratch copy of native/ (so the running Node's build stays). Null, with a line saying why, if it
 * cannot be built: that line's table then has no fast-call floor row.
 */
function fastFloorFor(line: { major: string; nodedir: string }, tmp: string): string | null {
  const root = path.join(tmp, `native-${line.major}`);
  fs.cpSync(path.join(ROOT, 'native'), path.join(root, 'native'), {
    recursive: true,
    filter: (source) => !/[/\\](build|prebuilds)$/.test(source),
  });
  fs.cpSync(path.join(ROOT, 'scripts', 'build-native.js'), path.join(root, 'scripts', 'build-native.js'));
  try {
    execFileSync(process.execPath, [path.join(root, 'scripts', 'build-native.js'), '--quiet', '--nodedir', line.nodedir, 'bench'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  } catch {
    progress(`Node ${line.major}: the fast-call floor module was not built; its row is left out`);
    return null;
  }
  return path.join(root, 'native', 'bench', 'build', 'Release', 'percpu_bench_fast.node');
}

/** Runs the call-path benchmark under the node of line `major`. */
function runLine(major: string, forwarded: string[], tmp: string): LineReport {
  const line = nodeLine(major);
  const out = path.join(tmp, `node-${major}.json`);
  const env = { ...process.env };
  if (line.version !== process.versions.node) {
    env['PERCPU_ACCEL'] = path.join(ROOT, 'native', 'accel', 'prebuilds', 'linux-x64', `percpu_accel.abi${line.abi}.node`);
    const floor = fastFloorFor(line, tmp);
    if (floor !== null) env['PERCPU_BENCH_FAST_ADDON'] = floor;
  }
  progress(`Node ${line.version}: the call-path benchmark${env['PERCPU_ACCEL'] ? ` with ${path.relative(ROOT, env['PERCPU_ACCEL'])}` : ''}`);
  execFileSync(line.node, [path.join(__dirname, 'main.js'), '--call-path', ...forwarded, '--json', out], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return { major, version: line.version, report: JSON.parse(fs.readFileSync(out, 'utf8')) as Report };
}

/** The per-line table: every JS row on each backend, one thread (ns, x empty) and all CPUs (aggregate ns), per line. */
export function formatLines(lines: LineReport[]): string {
  const out: string[] = [];
  const first = lines[0]!.report;
  const n = first.config.workers;
  out.push(`Call paths from JS on each Node line: ${first.machine.cpuModel}, ${first.machine.cores} cores, ${first.machine.date}`);
  for (const { report } of lines) out.push(`  Node ${report.machine.node} (V8 ${report.machine.v8}): num() through ${report.machine.fastPath}`);
  out.push(
    `  ns per update on one thread, x its empty raw Node-API call (same process and round), and aggregate ns per update with ${n} CPUs busy; ` +
      `medians of ${first.config.rounds} round(s) x ${first.config.processesPerBackend} process(es) per backend${first.config.quick ? '; QUICK (smoke) mode: figures are not meaningful' : ''}`,
    '',
  );
  const keys = first.js.map((r) => [r.method, r.backend] as const);
  const cell = (r: Row | undefined) => [r?.single ? r.single.nsPerOp.toFixed(2) : '-', r?.method === 'empty' ? '1.00x' : x(r?.ratioSingle), r?.all ? (1e9 / r.all.opsPerSec).toFixed(2) : '-'];
  out.push(
    table(
      ['method', 'backend', ...lines.flatMap(({ major }) => [`${major}: ns`, `${major}: x empty`, `${major}: ns agg ${n}`])],
      keys.map(([method, backend]) => [
        LABELS[`js.${method}`] ?? method,
        backend,
        ...lines.flatMap(({ report }) => cell(report.js.find((r) => r.method === method && r.backend === backend))),
      ]),
      2,
    ),
  );
  // The call paths: each op through the accelerator and through the binding's Node-API callbacks.
  const paths = first.experiments.filter((r) => r.method !== 'emptyCall').map((r) => [r.method, r.backend] as const);
  if (paths.length > 0) {
    out.push('', 'Call paths (one thread, x the empty raw Node-API call of the same process and round):');
    out.push(
      table(
        ['call path', 'backend', ...lines.flatMap(({ major }) => [`${major}: ns`, `${major}: x empty`])],
        paths.map(([method, backend]) => [
          LABELS[`experiment.${method}`] ?? method,
          backend,
          ...lines.flatMap(({ report }) => {
            const r = report.experiments.find((e) => e.method === method && e.backend === backend);
            return [r?.single ? r.single.nsPerOp.toFixed(2) : '-', x(r?.ratioSingle)];
          }),
        ]),
        2,
      ),
    );
  }
  out.push('', 'generic vs gs from JS (each over its own process\'s empty call, one thread):');
  for (const { major, report } of lines) {
    out.push(`  Node ${major}: ${backendGap(report.js).map((g) => `${LABELS[`js.${g.method}`] ?? g.method} generic/gs ${x(g.generic / g.gs)}`).join('; ')}`);
  }
  for (const { major, report } of lines) {
    out.push('', `Targets on Node ${major} (${report.machine.node})`);
    for (const t of report.targets.filter((t) => t.pass !== null)) out.push(`- ${t.name}: ${t.pass ? 'met' : 'NOT met'}: ${t.measured}`);
    const bad = report.counters.filter((c) => !c.exact);
    out.push(bad.length === 0 ? `  counters: all ${report.counters.length} exact` : `  counters: ${bad.length} NOT exact`);
  }
  return out.join('\n');
}

export function main(argv: string[]): number {
  const { lines, json, forwarded } = parse(argv);
  if (lines.some((major) => nodeLine(major).version !== process.versions.node)) {
    progress('the prebuilt accelerators: scripts/prebuild.js (nothing is rebuilt when they are up to date)');
    execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'prebuild.js')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'percpu-node-lines-'));
  try {
    const reports = lines.map((major) => runLine(major, forwarded, tmp));
    process.stdout.write(formatLines(reports) + '\n');
    if (json) fs.writeFileSync(json, JSON.stringify(reports, null, 2) + '\n');
    return reports.every(({ report }) => report.allExact) ? 0 : 1;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`bench:node-lines: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
  }
}
