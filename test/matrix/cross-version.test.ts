/**
 * The cross-version check of `npm run test:node-matrix` (scripts/test-node-matrix.js), with real
 * builds: the binding compiled against each Node line's headers, and the accelerator prebuilt for
 * each line's ABI, run under every line's node. Every mix must end in a passing sample: a binding
 * (Node-API) works under every line; an accelerator built for another line is refused by Node
 * itself, before any of its code runs, and num() takes the Node-API path, saying so.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

interface Line {
  major: string;
  version: string;
  abi: string;
  node: string;
}
interface MatrixConfig {
  lines: Line[];
  bindings: Record<string, string>;
  accelerators: Record<string, string>;
  results: string;
}
interface Outcome {
  line: string;
  build: string;
  backend: string;
  outcome: string;
}

const ROOT = path.join(__dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'bin', 'percpu.js');
const config = JSON.parse(process.env['PERCPU_MATRIX'] ?? 'null') as MatrixConfig | null;
const outcomes: Outcome[] = [];

/**
 * The sample on 2 CPUs under `line`'s node (`percpu sample --json`): its exit status, and its result
 * in one line: `<backend> (<reason>): <passed> checks passed, <failed> failed; num() through <path>`.
 */
function sample(line: Line, backend: string, env: NodeJS.ProcessEnv): { status: number | null; summary: string; all: string } {
  const run = spawnSync(line.node, [BIN, 'sample', '--cpus', '2', '--backend', backend, '--json'], {
    env: { ...process.env, PERCPU_BACKEND: undefined, PERCPU_ADDON: undefined, PERCPU_ACCEL: undefined, ...env },
    encoding: 'utf8',
  });
  let summary = '';
  if (run.status === 0) {
    const r = JSON.parse(run.stdout) as { backend: string; backendReason: string; passed: number; failed: number; numPath: string };
    summary = `${r.backend} (${r.backendReason}): ${r.passed} checks passed, ${r.failed} failed; num() through ${r.numPath}`;
  }
  return { status: run.status, summary, all: `${run.stdout}\n${run.stderr}` };
}

describe('builds mixed across Node lines (npm run test:node-matrix)', function () {
  before(function () {
    assert.ok(config !== null, 'run by scripts/test-node-matrix.js, which passes PERCPU_MATRIX');
    assert.ok(config.lines.length >= 2);
  });

  after(function () {
    if (config !== null) fs.writeFileSync(config.results, JSON.stringify(outcomes));
  });

  it('the binding built under each line runs the sample under every line, on both backends, with that line\'s accelerator', function () {
    for (const built of config!.lines) {
      for (const line of config!.lines) {
        for (const backend of ['gs', 'generic']) {
          const run = sample(line, backend, { PERCPU_ADDON: config!.bindings[built.major]! });
          assert.equal(run.status, 0, `binding of Node ${built.version} under Node ${line.version} (${backend}):\n${run.all}`);
          assert.match(run.summary, new RegExp(`^${backend} \\(.*\\): 116 checks passed, 0 failed; num\\(\\) through the accelerator for Node ${line.version.replace(/\./g, '\\.')} \\(ABI ${line.abi},`));
          outcomes.push({ line: line.version, build: `binding built under Node ${built.version}`, backend, outcome: 'pass (accelerator)' });
        }
      }
    }
  });

  it('an accelerator built for one line is refused by Node under the others, and the Node-API path takes over', function () {
    for (const built of config!.lines) {
      const accelerator = config!.accelerators[built.major]!;
      assert.ok(fs.existsSync(accelerator), `${accelerator} is not built`);
      for (const line of config!.lines) {
        const run = sample(line, 'gs', { PERCPU_ACCEL: accelerator });
        assert.equal(run.status, 0, `accelerator of Node ${built.version} under Node ${line.version}:\n${run.all}`);
        if (built.major === line.major) {
          assert.match(run.summary, /: 116 checks passed, 0 failed; num\(\) through the accelerator for Node /);
          outcomes.push({ line: line.version, build: `accelerator for Node ${built.version}`, backend: 'gs', outcome: 'pass (accelerator)' });
        } else {
          assert.match(run.summary, /: 116 checks passed, 0 failed; num\(\) through Node-API \(.*refused by Node: /);
          assert.ok(
            run.summary.includes(`NODE_MODULE_VERSION ${built.abi}`) && run.summary.includes(`NODE_MODULE_VERSION ${line.abi}`),
            `the refusal names both ABIs: ${run.summary}`,
          );
          outcomes.push({ line: line.version, build: `accelerator for Node ${built.version}`, backend: 'gs', outcome: 'refused by Node; Node-API took over' });
        }
      }
    }
  });
});
