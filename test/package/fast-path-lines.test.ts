/**
 * num()'s fast path on every Node line of scripts/node-lines.json (20, 22, 24), with the
 * accelerators the package ships (native/accel/prebuilds, made by scripts/prebuild.js as npm pack
 * does; nothing is rebuilt when they are up to date): under each line's node binary, on gs and on
 * generic, test/fast-path-child.ts proves that optimized code takes the fast C functions this V8
 * line has, with exact results and the Node-API path's errors. And an accelerator of another
 * line is refused by Node (a stale or foreign V8), leaving num() on the Node-API path.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { checkReport, type FastPathReport } from '../fast-path-child';

const ROOT = path.join(__dirname, '..', '..', '..');
const CHILD = path.join(ROOT, 'dist', 'test', 'fast-path-child.js');
const { nodeLine, LINES } = require(path.join(ROOT, 'scripts', 'node-lines.js')) as {
  nodeLine(major: string): { major: string; version: string; node: string; abi: string };
  LINES: string[];
};

const accelerator = (abi: string) => path.join(ROOT, 'native', 'accel', 'prebuilds', 'linux-x64', `percpu_accel.abi${abi}.node`);

describe('fast path on every Node line, with the prebuilt accelerators', function () {
  this.timeout(600_000);
  const lines = LINES.map((major) => nodeLine(major));

  before(function () {
    execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'prebuild.js')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  });

  for (const major of LINES) {
    for (const backend of ['gs', 'generic']) {
      it(`Node ${major}, ${backend}: optimized code takes every fast C function of its V8 line; exact results; the Node-API path's errors`, function () {
        const line = lines.find((l) => l.major === major)!;
        const stdout = execFileSync(line.node, ['--allow-natives-syntax', CHILD], {
          encoding: 'utf8',
          maxBuffer: 16 << 20,
          env: { ...process.env, PERCPU_BACKEND: backend, PERCPU_ACCEL: accelerator(line.abi) },
        });
        const report = JSON.parse(stdout) as FastPathReport;
        assert.equal(report.node, `v${line.version}`);
        assert.equal(report.backend, backend);
        assert.equal(report.reason, `the accelerator for Node ${line.version} (ABI ${line.abi}, V8 ${report.v8.replace(/-.*/, '')})`);
        const fastRows = checkReport(report); // with the rows that have a fast C function: expectedFastOps(report.v8)
        console.log(`        V8 ${report.v8}: ${fastRows.length} of ${report.rows.length} (type, op) pairs with a fast C function`);
      });
    }
  }

  it("an accelerator built for another Node line is refused by Node itself, and num() runs on the Node-API path", function () {
    const script =
      "const lib = require(process.argv[1]); lib.setup({ cpus: 1 }); lib.bind(0); const v = lib.DynamicPerCpu.newZero('u32'); v.num().add(7);" +
      'console.log(JSON.stringify({ active: lib.fastPath.active, reason: lib.fastPath.reason, value: v.readRemote(0) }));';
    for (const [i, line] of lines.entries()) {
      const other = lines[(i + 1) % lines.length]!;
      const out = JSON.parse(
        execFileSync(line.node, ['-e', script, path.join(ROOT, 'dist', 'lib', 'index.js')], {
          encoding: 'utf8',
          env: { ...process.env, PERCPU_ACCEL: accelerator(other.abi) },
        }),
      ) as { active: boolean; reason: string; value: number };
      assert.equal(out.active, false, out.reason);
      assert.equal(out.value, 7);
      assert.match(out.reason, /^Node-API \(.*percpu_accel\.abi\d+\.node refused by Node: .*NODE_MODULE_VERSION/);
      assert.ok(out.reason.includes(`NODE_MODULE_VERSION ${other.abi}`), out.reason);
      assert.ok(!out.reason.includes('\n'), 'one line');
      console.log(`        Node ${line.major} with Node ${other.major}'s accelerator: ${out.reason}`);
    }
  });
});
