/**
 * Every bad input throws its named error class, with its code, and changes nothing.
 */
import * as assert from 'node:assert/strict';
import {
  AlreadyBoundError,
  ConflictError,
  CpuGuard,
  CpuTakenError,
  DynamicPerCpu,
  GuardError,
  NUMERIC_TYPES,
  NotBoundError,
  PerCpuError,
  PerCpuRangeError,
  PerCpuTypeError,
  ReleasedError,
  TaskError,
  bind,
  definePerCpu,
  getStaticPerCpu,
  region,
  revive,
  setup,
  stats,
  thisCpu,
  typeInfo,
  unbind,
  wrap,
  type NumericType,
  type PerCpuVariable,
} from '../lib';
import { ALL_CPUS, TEST_CPUS, assertRejectsCode, assertThrowsCode, runPlainWorker, taskOf, useCpuSet, val } from './helpers';
import type { ErrorInfo, Value } from './tasks';

const INVALID = 'ERR_PERCPU_INVALID_ARG';
const OUT_OF_RANGE = 'ERR_PERCPU_OUT_OF_RANGE';

const typeError = (fn: () => unknown) => assertThrowsCode(fn, PerCpuTypeError, INVALID, 'PerCpuTypeError');
const rangeError = (fn: () => unknown) => assertThrowsCode(fn, PerCpuRangeError, OUT_OF_RANGE, 'PerCpuRangeError');
const released = (fn: () => unknown) => assertThrowsCode(fn, ReleasedError, 'ERR_PERCPU_RELEASED');
const notBound = (fn: () => unknown) => assertThrowsCode(fn, NotBoundError, 'ERR_PERCPU_NOT_BOUND');
const guardError = (fn: () => unknown) => assertThrowsCode(fn, GuardError, 'ERR_PERCPU_GUARD');

/** Values of the wrong JS type for `type`: each must be a PerCpuTypeError. */
function wrongTypeValues(type: NumericType): unknown[] {
  const common = [1.5, NaN, Infinity, -Infinity, '1', null, undefined, {}, [], true];
  return typeInfo(type).big ? [1, 0, -1, ...common, 2 ** 64] : [1n, 0n, -1n, ...common, 0.1, -2.5];
}

/** Integers just outside `type`'s range: each must be a PerCpuRangeError. */
function outOfRangeValues(type: NumericType): unknown[] {
  const { min, max, big } = typeInfo(type);
  if (big) return [(max as bigint) + 1n, (min as bigint) - 1n, 2n ** 128n, -(2n ** 128n)];
  return [(max as number) + 1, (min as number) - 1, 2 ** 53, -(2 ** 60), 1e300];
}

/** The untyped op functions of a variable, to call them with bad values. */
function opsOf(v: PerCpuVariable<NumericType>): Record<'add' | 'sub', (value: unknown) => void> {
  return v.num() as unknown as Record<'add' | 'sub', (value: unknown) => void>;
}

function writeRemoteUntyped(v: PerCpuVariable<NumericType>, cpu: unknown, value: unknown): void {
  (v.writeRemote as unknown as (cpu: unknown, value: unknown) => void).call(v, cpu, value);
}

function readRemoteUntyped(v: PerCpuVariable<NumericType>, cpu: unknown): unknown {
  return (v.readRemote as unknown as (cpu: unknown) => unknown).call(v, cpu);
}

/** Distinct starting values per CPU, so that any stray write shows. */
function startValue(type: NumericType, cpu: number): Value {
  return val(type, 11 * (cpu + 1));
}

function assertInfo(info: ErrorInfo | null, name: string, code: string): void {
  assert.ok(info !== null, `expected a ${name}, nothing was thrown`);
  assert.equal(info.name, name);
  assert.equal(info.code, code);
  assert.equal(info.isNamedClass, true, `${name} is not an instance of the class of that name`);
  assert.equal(info.isTypeError, name === 'PerCpuTypeError');
  assert.equal(info.isRangeError, name === 'PerCpuRangeError');
  assert.equal(info.isPerCpuError, name !== 'PerCpuTypeError' && name !== 'PerCpuRangeError');
}

/**
 * A released variable among a task's arguments: a ReleasedError, either as is or as the cause
 * of a TaskError for that CPU (as it is on CPU 0, where the task itself meets the handle).
 */
function isReleasedArgument(cpu: number) {
  return (error: unknown): boolean => {
    const released = error instanceof TaskError ? (assert.equal(error.cpu, cpu), error.cause) : error;
    assert.ok(released instanceof Error, `expected a ReleasedError, got ${String(error)}`);
    assert.equal(released.name, 'ReleasedError');
    assert.equal((released as { code?: unknown }).code, 'ERR_PERCPU_RELEASED');
    return true;
  };
}

describe('errors', function () {
  it('every named class has its code and name, and a place in the class tree', function () {
    const typeErr = new PerCpuTypeError('x');
    assert.ok(typeErr instanceof TypeError);
    assert.equal(typeErr.code, INVALID);
    assert.equal(typeErr.name, 'PerCpuTypeError');
    const rangeErr = new PerCpuRangeError('x');
    assert.ok(rangeErr instanceof RangeError);
    assert.equal(rangeErr.code, OUT_OF_RANGE);
    const notBoundErr = new NotBoundError('x');
    assert.ok(notBoundErr instanceof PerCpuError);
    assert.ok(notBoundErr instanceof Error);
    assert.equal(notBoundErr.name, 'NotBoundError');
    assert.equal(notBoundErr.code, 'ERR_PERCPU_NOT_BOUND');
    assert.equal(new ConflictError('x').code, 'ERR_PERCPU_CONFLICT');
    assert.equal(new GuardError('x').code, 'ERR_PERCPU_GUARD');
  });

  describe('with a CpuSet open', function () {
    const cpus = useCpuSet();

    for (const type of NUMERIC_TYPES) {
      describe(`bad ${type} values`, function () {
        let v: DynamicPerCpu<NumericType>;
        let before: Value[];
        beforeEach(function () {
          v = DynamicPerCpu.newFrom(type, (cpu) => startValue(type, cpu));
          before = ALL_CPUS.map((cpu) => startValue(type, cpu));
          assert.deepEqual(v.values(), before);
        });
        afterEach(function () {
          assert.deepEqual(v.values(), before, 'a rejected value changed a slot');
          assert.equal(v.sum(), val(type, 11 + 22 + 33 + 44));
          v.release();
        });

        /** Offers each bad value to every write path; each must throw as `check` expects and allocate nothing. */
        function rejectOnEveryWritePath(bads: unknown[], check: (fn: () => unknown) => unknown, tag: string): void {
          const statsBefore = stats();
          for (const bad of bads) {
            check(() => opsOf(v).add(bad));
            check(() => opsOf(v).sub(bad));
            check(() => writeRemoteUntyped(v, 2, bad));
            const guard = new CpuGuard();
            try {
              check(() =>
                v.getMut(guard).with((slot) => {
                  (slot as { value: unknown }).value = bad;
                }),
              );
            } finally {
              guard.release();
            }
            // newWith(undefined) and newWith(array) have a test of their own.
            if (bad !== undefined && !Array.isArray(bad)) check(() => DynamicPerCpu.newWith(type, bad as never));
            check(() => DynamicPerCpu.newFrom(type, (cpu) => (cpu === 3 ? bad : val(type, 0)) as never));
            check(() => definePerCpu(`errors.${tag}-${type}`, type, bad as never));
          }
          assert.deepEqual(stats(), statsBefore, 'a rejected value allocated something');
          // No static was defined by the rejected definitions.
          typeError(() => getStaticPerCpu(`errors.${tag}-${type}`, type));
        }

        it('of the wrong JS type are PerCpuTypeErrors on every write path', function () {
          rejectOnEveryWritePath(wrongTypeValues(type), typeError, 'bad');
        });

        it('out of range are PerCpuRangeErrors on every write path', function () {
          rejectOnEveryWritePath(outOfRangeValues(type), rangeError, 'range');
        });

        it('are rejected with the same classes on every CPU', async function () {
          const bads = [...wrongTypeValues(type).filter((bad) => typeof bad !== 'object' || bad === null), ...outOfRangeValues(type)];
          const results = await cpus.set.onEachCpu(taskOf('tryBadValues'), v, bads);
          for (const perCpu of results) {
            assert.equal(perCpu.length, bads.length);
            perCpu.forEach((result, i) => {
              const name = i < bads.length - outOfRangeValues(type).length ? 'PerCpuTypeError' : 'PerCpuRangeError';
              const code = name === 'PerCpuTypeError' ? INVALID : OUT_OF_RANGE;
              assertInfo(result.add, name, code);
              assertInfo(result.sub, name, code);
              assertInfo(result.set, name, code);
              assertInfo(result.writeRemote, name, code);
            });
          }
        });
      });
    }

    it('the literal out-of-range cases: 256 and -1 for u8, 2n ** 64n for u64, -(2n ** 63n) - 1n for i64', function () {
      const u8 = DynamicPerCpu.newZero('u8');
      const u64 = DynamicPerCpu.newZero('u64');
      const i64 = DynamicPerCpu.newZero('i64');
      try {
        rangeError(() => u8.num().add(256));
        rangeError(() => u8.num().sub(-1));
        rangeError(() => u64.num().add(2n ** 64n));
        rangeError(() => u64.num().sub(-1n));
        rangeError(() => i64.num().add(-(2n ** 63n) - 1n));
        rangeError(() => i64.num().sub(2n ** 63n));
        // The bounds themselves are fine.
        u8.num().add(255);
        u64.num().add(2n ** 64n - 1n);
        i64.num().add(-(2n ** 63n));
        assert.deepEqual(u8.values(), [255, 0, 0, 0]);
        assert.deepEqual(u64.values(), [2n ** 64n - 1n, 0n, 0n, 0n]);
        assert.deepEqual(i64.values(), [-(2n ** 63n), 0n, 0n, 0n]);
      } finally {
        u8.release();
        u64.release();
        i64.release();
      }
    });

    it('newWith() takes one value: undefined or an array is a PerCpuTypeError, and allocates nothing', function () {
      const statsBefore = stats();
      // Whatever is wrongly made is released here, so that no finalizer frees it during a later test.
      const made: DynamicPerCpu<NumericType>[] = [];
      const attempt = (fn: () => DynamicPerCpu<NumericType>) => () => made.push(fn());
      try {
        typeError(attempt(() => DynamicPerCpu.newWith('u8', undefined as never)));
        typeError(attempt(() => DynamicPerCpu.newWith('u64', undefined as never)));
        typeError(attempt(() => DynamicPerCpu.newWith('u8', [1, 2, 3, 4] as never)));
        typeError(attempt(() => DynamicPerCpu.newWith('i64', [1n, 2n, 3n, 4n] as never)));
        assert.deepEqual(stats(), statsBefore);
      } finally {
        for (const v of made) v.release();
      }
    });

    it('a number for a bigint type and a bigint for a number type are PerCpuTypeErrors', function () {
      const u64 = DynamicPerCpu.newWith('u64', 5n);
      const i32 = DynamicPerCpu.newWith('i32', 5);
      try {
        const e1 = typeError(() => (u64.num().add as (x: unknown) => void)(1));
        assert.ok(e1 instanceof TypeError);
        const e2 = typeError(() => (i32.num().add as (x: unknown) => void)(1n));
        assert.ok(e2 instanceof TypeError);
        assert.deepEqual(u64.values(), [5n, 5n, 5n, 5n]);
        assert.deepEqual(i32.values(), [5, 5, 5, 5]);
      } finally {
        u64.release();
        i32.release();
      }
    });

    it('a released handle is a ReleasedError everywhere, and nothing changes', async function () {
      const ticketsBefore = stats().outstandingTickets;
      const v = DynamicPerCpu.newFrom('i16', (cpu) => -cpu - 1);
      const other = v.clone();
      const ops = v.num(); // made before the release
      const guard = new CpuGuard();
      const token = v.getMut(guard); // made before the release
      try {
        v.release();
        assert.equal(v.released, true);
        assert.equal(v.refCount, 0);
        released(() => ops.add(1));
        released(() => ops.sub(1));
        assert.equal(v.num(), ops); // the ops object is made once; its functions check the handle
        const fresh = other.clone();
        fresh.release();
        released(() => fresh.num()); // ops asked for only after the release
        released(() => v.readRemote(0));
        released(() => v.writeRemote(1, 9));
        released(() => v.values());
        released(() => v.sum());
        released(() => v.getMut(guard));
        released(() => token.with((slot) => slot.value));
        released(() =>
          token.with((slot) => {
            slot.value = 3;
          }),
        );
        released(() => v.clone());
        released(() => v.share());
        released(() => v.release());
        v[Symbol.dispose](); // disposing a released handle is a no-op
        await assert.rejects(async () => cpus.set.runOn(1, taskOf('readThis'), v), isReleasedArgument(1));
        // The other handle still works and sees every slot unchanged.
        assert.equal(other.released, false);
        assert.equal(other.refCount, 1);
        assert.deepEqual(other.values(), [-1, -2, -3, -4]);
      } finally {
        guard.release();
        other.release();
      }
      assert.equal(stats().outstandingTickets, ticketsBefore);
    });

    it('a released task argument leaks no ticket and no reference', async function () {
      const ticketsBefore = stats().outstandingTickets;
      const kept = DynamicPerCpu.newZero('u8');
      const gone = DynamicPerCpu.newZero('u8');
      gone.release();
      try {
        await assert.rejects(async () => cpus.set.runOn(1, taskOf('readEach'), kept, gone), isReleasedArgument(1));
        assert.equal(stats().outstandingTickets, ticketsBefore, 'the ticket taken for the first argument was never given back');
        assert.equal(kept.refCount, 1);
      } finally {
        kept.release();
      }
    });

    it('CPU numbers outside the region are PerCpuRangeErrors, non-integers PerCpuTypeErrors', async function () {
      const v = DynamicPerCpu.newWith('u32', 7);
      try {
        for (const cpu of [-1, TEST_CPUS, 1000, 2 ** 40]) {
          rangeError(() => readRemoteUntyped(v, cpu));
          rangeError(() => writeRemoteUntyped(v, cpu, 1));
          await assertRejectsCode(async () => cpus.set.runOn(cpu, taskOf('whoAmI')), PerCpuRangeError, OUT_OF_RANGE, 'PerCpuRangeError');
          rangeError(() => cpus.set.isAlive(cpu));
        }
        for (const cpu of [1.5, NaN, Infinity, '1', null, undefined, 1n]) {
          typeError(() => readRemoteUntyped(v, cpu));
          typeError(() => writeRemoteUntyped(v, cpu, 1));
          await assertRejectsCode(async () => cpus.set.runOn(cpu as number, taskOf('whoAmI')), PerCpuTypeError, INVALID, 'PerCpuTypeError');
        }
        assert.deepEqual(v.values(), [7, 7, 7, 7]);
      } finally {
        v.release();
      }
    });

    it('bind() of a CPU another thread holds is a CpuTakenError; bind() while bound is an AlreadyBoundError', function () {
      assert.equal(thisCpu(), 0);
      // The main thread is CPU 0 of the set: binding it again, to any CPU, is an AlreadyBoundError.
      assertThrowsCode(() => bind(1), AlreadyBoundError, 'ERR_PERCPU_ALREADY_BOUND');
      assertThrowsCode(() => bind(0), AlreadyBoundError, 'ERR_PERCPU_ALREADY_BOUND');
      assert.equal(thisCpu(), 0);
      // Step off CPU 0 for a moment: CPU 1 is still its worker's.
      unbind();
      try {
        assert.equal(thisCpu(), null);
        for (const cpu of [1, 2, 3]) assertThrowsCode(() => bind(cpu), CpuTakenError, 'ERR_PERCPU_CPU_TAKEN');
        assert.equal(thisCpu(), null);
      } finally {
        bind(0);
      }
      assert.equal(thisCpu(), 0);
    });

    it('unbind() while a CpuGuard is held is a GuardError', function () {
      const guard = new CpuGuard();
      try {
        assert.equal(guard.cpu, 0);
        guardError(() => unbind());
        assert.equal(thisCpu(), 0);
      } finally {
        guard.release();
      }
      // Two guards nest: both must go.
      const outer = new CpuGuard();
      const inner = new CpuGuard();
      inner.release();
      guardError(() => unbind());
      outer.release();
      assert.equal(thisCpu(), 0);
    });

    it('a CpuGuard released twice, and a token or slot used after its guard, are GuardErrors', function () {
      const v = DynamicPerCpu.newWith('u16', 300);
      try {
        const guard = new CpuGuard();
        const token = v.getMut(guard);
        let escaped: { value: number } | undefined;
        token.with((slot) => {
          escaped = slot;
        });
        guardError(() => escaped!.value); // a slot outside with()
        guardError(() => {
          escaped!.value = 1;
        });
        guard.release();
        assert.equal(guard.live, false);
        guardError(() => guard.release());
        guardError(() => token.with((slot) => slot.value));
        guardError(() => v.getMut(guard));
        typeError(() => v.getMut({} as CpuGuard));
        guard[Symbol.dispose](); // disposing a released guard is a no-op
        assert.deepEqual(v.values(), [300, 300, 300, 300]);
      } finally {
        v.release();
      }
    });

    it('unknown type names are PerCpuTypeErrors', function () {
      const statsBefore = stats();
      for (const bad of ['u128', 'f32', 'U8', '', 'int', 8, null, undefined]) {
        typeError(() => typeInfo(bad as NumericType));
        typeError(() => DynamicPerCpu.newZero(bad as NumericType));
        typeError(() => DynamicPerCpu.newWith(bad as NumericType, 0 as never));
        typeError(() => DynamicPerCpu.newFrom(bad as NumericType, () => 0 as never));
        typeError(() => definePerCpu('errors.unknown-type', bad as NumericType, 0 as never));
        typeError(() => wrap(bad as NumericType, 0 as never));
      }
      assert.deepEqual(stats(), statsBefore);
    });

    it('a conflicting definePerCpu() is a ConflictError and leaves the static as it was', function () {
      const first = definePerCpu('errors.conflict', 'u32', 7);
      const conflict = (fn: () => unknown) => assertThrowsCode(fn, ConflictError, 'ERR_PERCPU_CONFLICT');
      conflict(() => definePerCpu('errors.conflict', 'u32', 8));
      conflict(() => definePerCpu('errors.conflict', 'i32', 7));
      conflict(() => definePerCpu('errors.conflict', 'u64', 7n));
      const again = definePerCpu('errors.conflict', 'u32', 7);
      assert.equal(again.offset, first.offset);
      assert.deepEqual(first.values(), [7, 7, 7, 7]);
      // getStaticPerCpu with the wrong type is a PerCpuTypeError.
      typeError(() => getStaticPerCpu('errors.conflict', 'i32'));
      typeError(() => getStaticPerCpu('errors.no-such-static', 'u32'));
    });

    it('setup() with other sizes is a ConflictError; with the same ones it returns the region', function () {
      const conflict = (fn: () => unknown) => assertThrowsCode(fn, ConflictError, 'ERR_PERCPU_CONFLICT');
      conflict(() => setup({ cpus: TEST_CPUS + 4 }));
      conflict(() => setup({ cpus: 2 }));
      conflict(() => setup({ areaSize: 128 * 1024 }));
      rangeError(() => setup({ cpus: 0 }));
      rangeError(() => setup({ cpus: 5000 }));
      typeError(() => setup({ cpus: 1.5 }));
      const info = setup({ cpus: TEST_CPUS });
      assert.equal(info.cpus, TEST_CPUS);
      assert.equal(info.areaSize, 64 * 1024);
      assert.deepEqual(setup(), info);
      assert.deepEqual(region(), info);
    });

    it('revive() of a spent ticket is a ReleasedError', function () {
      const ticketsBefore = stats().outstandingTickets;
      const v = DynamicPerCpu.newWith('i8', -3);
      const shared = v.share();
      assert.equal(stats().outstandingTickets, ticketsBefore + 1);
      assert.equal(v.refCount, 2);
      const revived = revive(shared);
      try {
        assert.equal(v.refCount, 2);
        assert.equal(stats().outstandingTickets, ticketsBefore);
        released(() => revive(shared));
        released(() => revive({ percpu: 'dynamic', type: 'i8', ticket: 987654321 }));
        typeError(() => revive({ percpu: 'dynamic', type: 'i8', ticket: -1 }));
        typeError(() => revive({ hello: 1 } as never));
        assert.equal(v.refCount, 2);
        assert.deepEqual(revived.values(), [-3, -3, -3, -3]);
      } finally {
        (revived as DynamicPerCpu<'i8'>).release();
        v.release();
      }
    });

    it('objects forged to look like handles, guards or native handles are rejected, and nothing changes', function () {
      const v = DynamicPerCpu.newWith('u32', 7);
      try {
        const nativeHandle = (v as unknown as { handle: object }).handle;
        const NativeClass = Object.getPrototypeOf(nativeHandle).constructor as new () => object;
        typeError(() => new NativeClass());
        // Methods of the native class called on anything but a handle the addon made.
        const read = (nativeHandle as { readRemote: (cpu: number) => unknown }).readRemote;
        assert.throws(() => read.call({}, 0), TypeError);
        assert.throws(() => read.call(Object.create(Object.getPrototypeOf(nativeHandle)), 0), TypeError);
        // A plain object shaped like a guard is not a guard.
        typeError(() => v.getMut({ live: true, cpu: 0, release() {} } as unknown as CpuGuard));
        // A handle-shaped plain object has no native handle: the JS private-field check refuses it
        // before any native code runs.
        const forged = Object.assign(Object.create(DynamicPerCpu.prototype), { type: 'u32' }) as DynamicPerCpu<'u32'>;
        assert.throws(() => forged.num().add(1), TypeError);
        assert.deepEqual(v.values(), [7, 7, 7, 7]);
      } finally {
        v.release();
      }
    });

    it('revive() with the wrong type is a PerCpuTypeError and changes nothing: the ticket still revives as its type', function () {
      const ticketsBefore = stats().outstandingTickets;
      const v = DynamicPerCpu.newZero('u16');
      try {
        const shared = v.share();
        assert.equal(v.refCount, 2);
        typeError(() => revive({ ...shared, type: 'i16' }));
        assert.equal(v.refCount, 2);
        assert.equal(stats().outstandingTickets, ticketsBefore + 1);
        const revived = revive(shared) as DynamicPerCpu<'u16'>;
        assert.equal(revived.offset, v.offset);
        revived.release();
        assert.equal(v.refCount, 1);
        assert.equal(stats().outstandingTickets, ticketsBefore);
      } finally {
        v.release();
      }
    });
  });

  describe('with no CpuSet open (the main thread unbound)', function () {
    let v: DynamicPerCpu<'i64'>;
    before(function () {
      assert.equal(thisCpu(), null);
      v = DynamicPerCpu.newFrom('i64', (cpu) => BigInt(cpu) * 1000n - 1n);
    });
    after(function () {
      assert.deepEqual(v.values(), [-1n, 999n, 1999n, 2999n], 'a failed op changed a slot');
      v.release();
      assert.equal(thisCpu(), null);
    });

    it('ops, guards and unbind() are NotBoundErrors, and nothing crashes', function () {
      notBound(() => v.num().add(1n));
      notBound(() => v.num().sub(1n));
      notBound(() => new CpuGuard());
      notBound(() => unbind());
      // A released handle says so first.
      const gone = v.clone();
      gone.release();
      released(() => gone.num());
      // Remote access needs no binding.
      assert.equal(v.readRemote(2), 1999n);
      assert.equal(v.sum(), -1n + 999n + 1999n + 2999n);
      assert.equal(thisCpu(), null);
    });

    it('bind() of a CPU outside the region is a PerCpuRangeError, of a non-integer a PerCpuTypeError', function () {
      for (const cpu of [-1, TEST_CPUS, 99]) rangeError(() => bind(cpu));
      for (const cpu of [1.5, NaN, '1', null, undefined]) typeError(() => bind(cpu as number));
      assert.equal(thisCpu(), null);
    });

    it('bind() twice is an AlreadyBoundError; unbind() with a guard held is a GuardError', function () {
      bind(2);
      try {
        assert.equal(thisCpu(), 2);
        assertThrowsCode(() => bind(2), AlreadyBoundError, 'ERR_PERCPU_ALREADY_BOUND');
        assertThrowsCode(() => bind(3), AlreadyBoundError, 'ERR_PERCPU_ALREADY_BOUND');
        const guard = new CpuGuard();
        assert.equal(guard.cpu, 2);
        guardError(() => unbind());
        guard.release();
        assert.equal(thisCpu(), 2);
      } finally {
        unbind();
      }
      assert.equal(thisCpu(), null);
      notBound(() => unbind());
    });

    it('in a plain worker thread that never binds, ops are NotBoundErrors and the worker lives on', async function () {
      const ticketsBefore = stats().outstandingTickets;
      const { reply, exitCode } = await runPlainWorker({ mode: 'unbound', shared: v.share(), operand: 5n });
      assert.equal(exitCode, 0);
      assert.equal(reply.mode, 'unbound');
      if (reply.mode !== 'unbound') return;
      assert.equal(reply.thisCpu, null);
      assertInfo(reply.add, 'NotBoundError', 'ERR_PERCPU_NOT_BOUND');
      assertInfo(reply.sub, 'NotBoundError', 'ERR_PERCPU_NOT_BOUND');
      assertInfo(reply.guard, 'NotBoundError', 'ERR_PERCPU_NOT_BOUND');
      assertInfo(reply.unbind, 'NotBoundError', 'ERR_PERCPU_NOT_BOUND');
      assert.deepEqual(reply.values, [-1n, 999n, 1999n, 2999n]);
      assert.equal(reply.sum, -1n + 999n + 1999n + 2999n);
      assert.equal(reply.refCountInside, 2);
      assert.equal(v.refCount, 1);
      assert.equal(stats().outstandingTickets, ticketsBefore);
    });
  });
});
