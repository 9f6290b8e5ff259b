/**
 * percpu's benchmarks (`npm run bench`): native loops, per-call costs from JS, scaling with the
 * number of CPUs, reading, and the call-path experiments. Prints one table on stdout (progress on
 * stderr); --json FILE writes the same data, --svg FILE a chart, --markdown FILE the benchmark page
 * (bench/page.md with the run; docs/benchmarks.md is made so).
 *
 * A process has one region and so one backend: this process orchestrates child processes
 * (bench/child.ts), one backend each, alternating gs and generic, and reports medians over all
 * of their rounds; every ratio is taken inside one process and round.
 *
 *   npm run bench -- [--quick] [--call-path] [--workers N] [--rounds R] [--processes P] [--sample-ms MS]
 *                    [--json FILE] [--svg FILE] [--callgrind]
 *
 * --call-path measures only the call paths from JS (section 2 and the call-path experiments, on 1
 * and N CPUs): what bench/node-lines.ts runs under each Node line.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setup } from '../lib';
import { fastPath, native } from '../lib/core/native';
import {
  EXPERIMENTS,
  JS_METHODS,
  NATIVE_METHODS,
  READ_METHODS,
  SCALING_METHODS,
  BENCH_ADDON,
  nativeBench,
  type Backend,
  type ChildConfig,
  type ChildResult,
  type CounterCheck,
  type Sample,
} from './common';
import { loopBodies, type LoopBody } from './disasm';
import { buildReport, formatTable, renderSvg, type Config, type Machine } from './report';

interface Options extends Config {
  json: string | null;
  svg: string | null;
  markdown: string | null;
  callgrind: boolean;
}

const USAGE =
  'usage: npm run bench -- [--quick] [--call-path] [--workers N] [--rounds R] [--processes P] [--sample-ms MS] [--json FILE] [--svg FILE] [--markdown FILE] [--callgrind]';

export function parseOptions(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const options: Options = {
    workers: os.availableParallelism(),
    rounds: quick ? 1 : 5,
    processesPerBackend: quick ? 1 : 2,
    sampleMs: 20,
    quick,
    callPathOnly: argv.includes('--call-path'),
    json: null,
    svg: null,
    markdown: null,
    callgrind: false,
  };
  const int = (name: string, value: string | undefined, min: number) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name} takes an integer >= ${min}\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    if (arg === '--quick' || arg === '--call-path') continue;
    else if (arg === '--workers') options.workers = int(arg, value(), 1);
    else if (arg === '--rounds') options.rounds = int(arg, value(), 1);
    else if (arg === '--processes') options.processesPerBackend = int(arg, value(), 1);
    else if (arg === '--sample-ms') options.sampleMs = int(arg, value(), 1);
    else if (arg === '--json') options.json = value();
    else if (arg === '--svg') options.svg = value();
    else if (arg === '--markdown') options.markdown = value();
    else if (arg === '--callgrind') options.callgrind = true;
    else throw new Error(`unknown option ${arg}\n${USAGE}`);
  }
  return options;
}

const progress = (text: string) => process.stderr.write(`${text}\n`);

/** The benchmark page (docs/benchmarks.md): bench/page.md with this run's table in place of {{RUN}}. */
export function benchmarkPage(run: string): string {
  const template = fs.readFileSync(path.join(__dirname, '..', '..', 'bench', 'page.md'), 'utf8');
  return template.replace('{{RUN}}', () => `\`\`\`text\n${run.trimEnd()}\n\`\`\``);
}

/** Runs one child process to completion and returns its result. */
function runChild(config: ChildConfig): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'child.js'), JSON.stringify(config)], {
      env: { ...process.env, PERCPU_BACKEND: config.backend },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code !== 0) return reject(new Error(`the ${config.backend} benchmark process failed (${signal ?? `exit code ${code}`})`));
      try {
        resolve(JSON.parse(fs.readFileSync(config.out, 'utf8')) as ChildResult);
      } catch (error) {
        reject(error);
      } finally {
        fs.rmSync(config.out, { force: true });
      }
    });
  });
}

/** callgrind's instructions (Ir) per iteration of each native loop, or null without valgrind. */
function callgrindIr(): Record<string, number> | null {
  const iterations = 1_000_000;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'percpu-callgrind-'));
  const out = path.join(dir, 'callgrind.out');
  try {
    progress(`callgrind: each native loop ${iterations} times under valgrind (slow)...`);
    const run = execFileSync(
      'valgrind',
      ['--tool=callgrind', `--callgrind-out-file=${out}`, '--toggle-collect=percpu_bench_loop_*', process.execPath, path.join(__dirname, 'callgrind-child.js'), String(iterations)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 },
    );
    const { methods } = JSON.parse(run.trim().split('\n').pop()!) as { methods: string[] };
    const annotated = execFileSync('callgrind_annotate', ['--threshold=100', out], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const bySymbol = new Map<string, number>();
    for (const line of annotated.split('\n')) {
      const m = /^\s*([\d,]+)\s+\([^)]*\)\s+\S*?:?(percpu_bench_loop_\w+)/.exec(line);
      if (m) bySymbol.set(m[2]!, Number(m[1]!.replace(/,/g, '')));
    }
    const result: Record<string, number> = {};
    for (const method of methods) {
      const ir = bySymbol.get(nativeBench.loops[method]!);
      if (ir !== undefined) result[method] = ir / iterations;
    }
    return result;
  } catch (error) {
    progress(`callgrind: not available (${(error as Error).message.split('\n')[0]})`);
    return null;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function machine(gsMethod: string | null): Machine {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU',
    cores: os.availableParallelism(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    v8: process.versions.v8,
    fastPath: fastPath.reason,
    gsMethod,
    date: new Date().toISOString().slice(0, 10),
  };
}

export async function main(argv: string[]): Promise<number> {
  const options = parseOptions(argv);
  // Which backends work here: this process's own region (1 CPU, never bound) asks for auto.
  const probe = setup({ cpus: 1, backend: 'auto' });
  const backends: Backend[] = probe.backend === 'gs' ? ['gs', 'generic'] : ['generic'];
  if (probe.backend !== 'gs') progress(`gs backend not available: ${probe.backendReason}; measuring generic only`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'percpu-bench-'));
  const samples: Sample[] = [];
  const counters: CounterCheck[] = [];
  const described: Partial<Record<Backend, string>> = {};
  let child = 0;
  try {
    for (let p = 0; p < options.processesPerBackend; p++) {
      const order = p % 2 === 0 ? backends : [...backends].reverse();
      for (const backend of order) {
        progress(`process ${child + 1}/${options.processesPerBackend * backends.length}: ${backend}, ${options.workers} CPUs, ${options.rounds} round(s)`);
        const config: ChildConfig = {
          child,
          backend,
          primary: backend === backends[0],
          cpus: options.workers,
          rounds: options.rounds,
          quick: options.quick,
          sampleMs: options.sampleMs,
          callPathOnly: options.callPathOnly,
          out: path.join(tmp, `child-${child}.json`),
        };
        const result = await runChild(config);
        samples.push(...result.samples);
        counters.push(...result.counters);
        described[backend] = result.backendDescription;
        child++;
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  let loops: LoopBody[] | null = null;
  try {
    if (!options.callPathOnly) loops = loopBodies(BENCH_ADDON, nativeBench.loops);
  } catch (error) {
    progress(`objdump: ${(error as Error).message.split('\n')[0]}`);
  }
  const callgrind = options.callgrind ? callgrindIr() : null;

  const config: Config = {
    workers: options.workers,
    rounds: options.rounds,
    processesPerBackend: options.processesPerBackend,
    sampleMs: options.sampleMs,
    quick: options.quick,
    callPathOnly: options.callPathOnly,
  };
  const report = buildReport({
    machine: machine(native.gsMethod),
    config,
    backends: described,
    samples,
    counters,
    loops,
    callgrind,
    nativeOrder: NATIVE_METHODS,
    jsOrder: JS_METHODS,
    readOrder: READ_METHODS,
    experimentOrder: EXPERIMENTS,
    scalingMethods: SCALING_METHODS,
  });
  const text = formatTable(report);
  process.stdout.write(text + '\n');
  if (options.json) fs.writeFileSync(options.json, JSON.stringify(report, null, 2) + '\n');
  if (options.svg) fs.writeFileSync(options.svg, renderSvg(report));
  if (options.markdown) fs.writeFileSync(options.markdown, benchmarkPage(text));
  const written = [options.json, options.svg, options.markdown].filter(Boolean);
  if (written.length > 0) progress(`wrote ${written.join(' and ')}`);
  return report.allExact ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 2;
    },
  );
}
