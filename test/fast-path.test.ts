/**
 * num()'s fast path, proved on the running Node and the suite's backend: optimized code calls the
 * accelerator's fast C functions (V8 fast API calls) and never enters the slow path for valid
 * calls, and from the same optimized code every error is exactly the Node-API path's
 * (test/fast-path-child.ts, in a child process with --allow-natives-syntax). The other Node lines
 * are proved by test/package/fast-path-lines.test.ts, with the prebuilt accelerators.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { DynamicPerCpu, bind, region, unbind } from '../lib';
import { fastPath, slowPathCalls } from '../lib/core/native';
import { CALLS, checkReport, expectedFastOps, type FastPathReport } from './fast-path-child';

const CHILD = path.join(__dirname, 'fast-path-child.js');
describe('fast path: V8 fast API calls from optimized code', function () {
  this.timeout(120_000);

  it("has a fast C function for every (type, op) where this V8 line allows it, none on 11.3 (fastPath.fastOps)", function () {
    assert.equal(fastPath.active, true, fastPath.reason);
    assert.deepEqual(fastPath.fastOps, expectedFastOps(process.versions.v8));
    assert.ok(Object.isFrozen(fastPath.fastOps) && Object.values(fastPath.fastOps).every(Object.isFrozen));
  });

  it(`optimized code takes the fast C function of every (type, op): no slow-path entry in ${CALLS} valid calls, exact results, and the Node-API path's errors`, async function () {
    const { stdout } = await promisify(execFile)(process.execPath, ['--allow-natives-syntax', CHILD], { encoding: 'utf8', maxBuffer: 16 << 20 });
    const report = JSON.parse(stdout) as FastPathReport;
    assert.equal(report.backend, region()!.backend);
    assert.equal(report.reason, fastPath.reason);
    assert.equal(report.v8, process.versions.v8);
    checkReport(report); // with the rows that have a fast C function: expectedFastOps(this V8)
  });

  it("counts slow-path entries per thread: calls from unoptimized code enter it, and a worker has its own count", async function () {
    bind(0);
    try {
      using v = DynamicPerCpu.newZero('u32');
      const add = v.num().add as (x: number) => void;
      const before = slowPathCalls()!;
      add(1); // the first calls run the V8 API callback
      add(2);
      assert.equal(slowPathCalls()! - before, 2);
      assert.equal(v.readRemote(0), 3);
    } finally {
      unbind();
    }
    const mine = slowPathCalls()!;
    const worker = new Worker(
      "const { parentPort } = require('node:worker_threads'); const { slowPathCalls } = require(process.argv[2]); const lib = require(process.argv[3]);" +
        "const start = slowPathCalls(); lib.bind(1); const v = lib.DynamicPerCpu.newZero('u64'); v.num().add(5n); v.num().inc();" +
        'const end = slowPathCalls(); const value = v.readRemote(1); v.release(); lib.unbind(); parentPort.postMessage({ start, end, value });',
      { eval: true, argv: [path.join(__dirname, '..', 'lib', 'core', 'native.js'), path.join(__dirname, '..', 'lib', 'index.js')] },
    );
    const [reply] = (await once(worker, 'message')) as [unknown];
    assert.deepEqual(reply, { start: 0, end: 2, value: 6n });
    assert.equal(slowPathCalls(), mine);
  });
});

describe('fast path: with the accelerator off (PERCPU_FAST=0)', function () {
  this.timeout(60_000);

  it('num() runs on the Node-API callbacks: no fast ops, no slow-path count, the same results and errors', async function () {
    const script =
      "const { fastPath, slowPathCalls } = require(process.argv[1]); const lib = require(process.argv[2]); lib.setup({ cpus: 1 }); lib.bind(0);" +
      "const v = lib.DynamicPerCpu.newZero('u8'); v.num().add(200); v.num().add(55); let e; try { v.num().add(256); } catch (x) { e = x.constructor.name + ': ' + x.message; }" +
      'console.log(JSON.stringify({ active: fastPath.active, reason: fastPath.reason, fastOps: fastPath.fastOps, slow: slowPathCalls(), value: v.readRemote(0), e }));';
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['-e', script, path.join(__dirname, '..', 'lib', 'core', 'native.js'), path.join(__dirname, '..', 'lib', 'index.js')],
      { encoding: 'utf8', env: { ...process.env, PERCPU_FAST: '0' } },
    );
    assert.deepEqual(JSON.parse(stdout), {
      active: false,
      reason: 'Node-API (PERCPU_FAST=0)',
      fastOps: {},
      slow: null,
      value: 255,
      e: 'PerCpuRangeError: value 256 is out of the range of u8',
    });
  });
});

describe('fast path: a replaced Function.prototype.bind', function () {
  this.timeout(60_000);

  it("cannot aim one op function at another op's holder: the call is refused and no slot is touched", async function () {
    // num() binds each op function to its holder with the realm's bind: replace it so that a u64
    // handle's functions get the holder a u8 handle's first op was bound to.
    const script = `
      const lib = require(process.argv[1]); lib.setup({ cpus: 2 }); lib.bind(0);
      const small = lib.DynamicPerCpu.newZero('u8'); small.num();
      const realBind = Function.prototype.bind; let stolen;
      Function.prototype.bind = function (thisArg, ...rest) { stolen ??= thisArg; return realBind.call(this, stolen, ...rest); };
      const big = lib.DynamicPerCpu.newZero('u64'); const ops = big.num();
      Function.prototype.bind = realBind;
      const errors = new Set(); let calls = 0;
      for (let i = 0; i < 20000; i++) { try { ops.add(1n); calls++; } catch (e) { errors.add(e.constructor.name + ': ' + e.message); } }
      console.log(JSON.stringify({ calls, errors: [...errors], small: small.values(), big: big.values().map(String) }));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script, path.join(__dirname, '..', 'lib', 'index.js')], {
      encoding: 'utf8',
    });
    assert.deepEqual(JSON.parse(stdout), {
      calls: 0,
      errors: ["TypeError: Illegal invocation: this op function is bound to another op's holder"],
      small: [0, 0],
      big: ['0', '0'],
    });
  });
});
