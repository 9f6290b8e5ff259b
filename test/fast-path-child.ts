/**
 * Proof that optimized code takes num()'s fast C functions (V8 fast API calls), run in a child
 * process with --allow-natives-syntax by test/fast-path.test.ts (and by
 * test/package/fast-path-lines.test.ts under each Node line, with the prebuilt accelerators). On
 * the backend of PERCPU_BACKEND, for every (type, op):
 *   - a loop of its own around `v.num().op(...)` is optimized by TurboFan (%OptimizeFunctionOnNextCall)
 *     before it runs the calls measured (so no other tier, no on-stack replacement, is involved);
 *   - CALLS valid calls from it: the count of slow-path entries (slowPathCalls()) must not move
 *     where this V8 line has a fast C function for (type, op) (fastPath.fastOps), and moves by
 *     CALLS where it has not; the slot and every result match the model (test/fuzz/model.ts);
 *   - from the same optimized code, a value out of range, a non-integer, a released handle and an
 *     unbound thread each throw exactly what the Node-API path throws, with one slow-path entry;
 *   - a try/catch inside an optimized function catches the op's error, every time (V8 11.3 let it
 *     escape when a fast C function fell back and the fallback threw: no fast C functions there).
 * Prints one JSON report (FastPathReport) on stdout; checkReport() is what the tests require of it.
 *
 *   node --allow-natives-syntax dist/test/fast-path-child.js
 */
import * as assert from 'node:assert/strict';
import { DynamicPerCpu, NUMERIC_OPS, NUMERIC_TYPES, bind, setup, typeInfo, unbind, type NumericType } from '../lib';
import { fastPath, slowPathCalls, type NativeHandle } from '../lib/core/native';
import { applyOp, opModel, toJs, type Value } from './fuzz/model';

export const CALLS = 1000;

/** One (type, op): what the optimized call site did. */
export interface FastPathRow {
  type: NumericType;
  op: string;
  /** This V8 line has a fast C function for it. */
  fastC: boolean;
  /** TurboFan had the call site optimized before and after the calls. */
  optimized: boolean;
  /** Slow-path entries during CALLS valid calls. */
  slowCalls: number;
  /** u32 ops with an operand: slow-path entries of one valid call with a heap number (0xffffffff); else null. */
  offPath: number | null;
  /** Every result and the slot matched the model. */
  exact: string | null;
  /** The error cases: what the optimized site threw against what the Node-API path throws, and the slow-path entries of the call. */
  errors: { case: string; fast: string; napi: string; slowCalls: number }[];
  /** Of CAUGHT_CALLS failing calls in a try/catch inside an optimized function, how many its catch caught. */
  caughtInside: number;
}

export const CAUGHT_CALLS = 3;

export interface FastPathReport {
  node: string;
  v8: string;
  backend: string;
  reason: string;
  rows: FastPathRow[];
}

/** `n` calls of the op, returning the last result. */
type Site = (v: unknown, a: unknown, b: unknown, n: number) => unknown;
// V8's intrinsics (--allow-natives-syntax), compiled when used: importing this module needs no flag.
const native = (body: string) => (f: unknown) => (new Function('f', body) as (f: unknown) => number)(f);
const prepare = native('%PrepareFunctionForOptimization(f);');
const optimizeNext = native('%OptimizeFunctionOnNextCall(f);');
const status = native('return %GetOptimizationStatus(f);');
// V8's OptimizationStatus: kOptimized (1 << 4) and kTurboFanned (1 << 6).
const turbofanned = (f: Site) => (status(f) & (1 << 4)) !== 0 && (status(f) & (1 << 6)) !== 0;

/** A call site of its own for (type, op): V8 keys feedback by function, and its source names the pair. */
function site(type: NumericType, op: string): Site {
  const arity = opModel(op).arity;
  const args = ['a', 'b'].slice(0, arity).join(', ');
  return new Function('v', 'a', 'b', 'n', `"${type}.${op}"; let r; for (let i = 0; i < n; i++) r = v.num().${op}(${args}); return r;`) as Site;
}

/**
 * A call site of its own whose try/catch is inside the optimized function: `n` calls, returning how
 * many threw and were caught there.
 */
function catchingSite(type: NumericType, op: string): Site {
  const args = ['a', 'b'].slice(0, opModel(op).arity).join(', ');
  return new Function(
    'v', 'a', 'b', 'n',
    `"${type}.${op} caught"; let caught = 0; for (let i = 0; i < n; i++) { try { v.num().${op}(${args}); } catch (e) { caught++; } } return caught;`,
  ) as Site;
}

/** A valid operand for `type`: small, so that it stays a small integer (or a bigint). */
const operand = (type: NumericType, n: number): Value => (typeInfo(type).big ? BigInt(n) : n);

function describe(error: unknown): string {
  return error instanceof Error ? `${error.constructor.name}: ${error.message}` : `no error (returned ${String(error)})`;
}

function attempt(call: () => unknown): string {
  try {
    return describe(call());
  } catch (error) {
    return describe(error);
  }
}

function row(type: NumericType, op: string): FastPathRow {
  const model = opModel(op);
  const info = typeInfo(type);
  const start = 100;
  const v = DynamicPerCpu.newWith(type, operand(type, start) as never);
  const napi = (v as unknown as { handle: NativeHandle }).handle.ops(true);
  // cmpxchg swaps start for start + 1, then finds start + 1 every later time and leaves it.
  const [a, b] = op === 'cmpxchg' ? [operand(type, start), operand(type, start + 1)] : [operand(type, 3), undefined];
  const operands = [a, b].slice(0, model.arity).map((x) => BigInt(x as Value));
  let slot = BigInt(start);
  let mismatch: string | null = null;
  const f = site(type, op);
  const call = (n: number) => {
    const result = f(v, a, b, n);
    let expected = { next: slot, result: undefined as bigint | undefined };
    for (let i = 0; i < n; i++) expected = applyOp(type, op, expected.next, operands);
    slot = expected.next;
    const want = expected.result === undefined ? undefined : toJs(type, expected.result);
    if (mismatch === null && result !== want) mismatch = `returned ${String(result)}, the model says ${String(want)}`;
  };
  prepare(f);
  call(1);
  call(1);
  optimizeNext(f);
  call(1);
  let optimized = turbofanned(f);
  const before = slowPathCalls()!;
  call(CALLS);
  const slowCalls = slowPathCalls()! - before;
  optimized &&= turbofanned(f);
  // A valid u32 operand that is no small integer (a heap number): the slow path does it, exactly.
  let offPath: number | null = null;
  if (type === 'u32' && model.arity === 1) {
    const s = slowPathCalls()!;
    const result = f(v, 0xffffffff, b, 1);
    offPath = slowPathCalls()! - s;
    const expected = applyOp(type, op, slot, [0xffffffffn]);
    slot = expected.next;
    const want = expected.result === undefined ? undefined : toJs(type, expected.result);
    if (mismatch === null && result !== want) mismatch = `${op}(0xffffffff) returned ${String(result)}, the model says ${String(want)}`;
  }
  if (mismatch === null && BigInt(v.readRemote(0) as Value) !== slot) mismatch = `the slot holds ${String(v.readRemote(0))}, the model ${slot}`;

  const errors: FastPathRow['errors'] = [];
  const check = (name: string, fast: () => unknown, viaNapi: () => unknown) => {
    const s = slowPathCalls()!;
    const got = attempt(fast);
    errors.push({ case: name, fast: got, napi: attempt(viaNapi), slowCalls: slowPathCalls()! - s });
  };
  const opFn = (x: unknown, y: unknown) => (napi[op] as (...args: unknown[]) => unknown)(x, y);
  if (model.arity > 0) {
    const over = info.big ? BigInt(info.max) + 1n : Number(info.max) + 1;
    check('out of range', () => f(v, over, b, 1), () => opFn(over, b));
    const odd = info.big ? 1 : 1.5;
    check('not an integer of the type', () => f(v, odd, b, 1), () => opFn(odd, b));
  }
  unbind();
  check('unbound thread', () => f(v, a, b, 1), () => opFn(a, b));
  bind(0);
  // The same errors caught inside an optimized function: an out-of-range operand where the op takes
  // one (on a fresh variable, so that the valid warm-up calls change nothing checked above), else
  // an unbound thread.
  const w = DynamicPerCpu.newWith(type, operand(type, start) as never);
  const g = catchingSite(type, op);
  prepare(g);
  g(w, a, b, 2);
  optimizeNext(g);
  g(w, a, b, 1);
  let caughtInside: number;
  if (model.arity > 0) {
    caughtInside = g(w, info.big ? BigInt(info.max) + 1n : Number(info.max) + 1, b, CAUGHT_CALLS) as number;
  } else {
    unbind();
    caughtInside = g(w, a, b, CAUGHT_CALLS) as number;
    bind(0);
  }
  w.release();
  v.release();
  check('released handle', () => f(v, a, b, 1), () => opFn(a, b));
  return { type, op, fastC: fastPath.fastOps[type]?.includes(op) ?? false, optimized, slowCalls, offPath, exact: mismatch, errors, caughtInside };
}

/**
 * The (type, op) pairs a V8 line has fast C functions for (native/accel/fast_ops.h kHasFastC): none
 * on 11.3 (Node 20: an error thrown through a fast C function's fallback escapes the catch of the
 * optimized caller there), all on 12.4 and later.
 */
export function expectedFastOps(v8: string): Record<string, string[]> {
  const [major, minor] = v8.split('.').map(Number) as [number, number];
  const line = major * 100 + minor;
  return Object.fromEntries(NUMERIC_TYPES.map((type) => [type, line === 1103 ? [] : [...NUMERIC_OPS]]));
}

/**
 * Checks a child's report: the rows with a fast C function exactly those of its V8 line
 * (expectedFastOps), every row optimized, exact, on the fast path where it has a fast C function,
 * and the errors the Node-API path's. Returns the rows with a fast C function ("u32.add"...).
 */
export function checkReport(report: FastPathReport): string[] {
  assert.equal(report.rows.length, NUMERIC_TYPES.length * NUMERIC_OPS.length);
  // The others (all of them on V8 11.3) run as the accelerator's V8 API functions.
  const fast = expectedFastOps(report.v8);
  const fastRows = report.rows.filter((r) => r.fastC).map((r) => `${r.type}.${r.op}`);
  assert.deepEqual(fastRows, NUMERIC_TYPES.flatMap((type) => fast[type]!.map((op) => `${type}.${op}`)), `${report.node}: the rows with a fast C function`);
  for (const row of report.rows) {
    const what = `${report.node} ${report.backend} ${row.type}.${row.op}`;
    assert.equal(row.optimized, true, `${what}: the call site was not (or no longer) optimized by TurboFan`);
    assert.equal(row.exact, null, `${what}: ${row.exact}`);
    assert.equal(row.slowCalls, row.fastC ? 0 : CALLS, `${what}: ${row.slowCalls} of ${CALLS} valid calls took the slow path`);
    assert.equal(row.offPath, row.type === 'u32' && opModel(row.op).arity === 1 ? 1 : null, `${what}: a heap-number operand`);
    const operandErrors = opModel(row.op).arity > 0 ? ['out of range', 'not an integer of the type'] : [];
    assert.deepEqual(row.errors.map((e) => e.case), [...operandErrors, 'unbound thread', 'released handle'], what);
    for (const error of row.errors) {
      assert.match(error.napi, /^(PerCpuRangeError|PerCpuTypeError|NotBoundError|ReleasedError): /, `${what} ${error.case}: ${error.napi}`);
      assert.equal(error.fast, error.napi, `${what} ${error.case}: the optimized call threw another error than the Node-API path`);
      assert.equal(error.slowCalls, 1, `${what} ${error.case}: ${error.slowCalls} slow-path entries`);
    }
    assert.equal(row.caughtInside, CAUGHT_CALLS, `${what}: a try/catch in the optimized caller caught ${row.caughtInside} of ${CAUGHT_CALLS} errors`);
  }
  return fastRows;
}

function main(): void {
  const info = setup({ cpus: 2 });
  bind(0);
  const rows = NUMERIC_TYPES.flatMap((type) => NUMERIC_OPS.map((op) => row(type, op)));
  unbind();
  const report: FastPathReport = { node: process.version, v8: process.versions.v8, backend: info.backend, reason: fastPath.reason, rows };
  process.stdout.write(JSON.stringify(report) + '\n');
}

if (require.main === module) main();
