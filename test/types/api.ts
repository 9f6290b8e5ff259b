/**
 * Compile-time tests of the typed API (npm run test:types: tsc --noEmit, never run). Each
 * `@ts-expect-error` line must fail to compile, and most follow the same call with the right type,
 * which must compile: so each one fails for the reason given, not for a typo. expectTypeOf (the
 * expect-type package) asserts exact types, not mere assignability.
 *
 * To add an op or a type: add its row to OpRows or ValueRows below, and its lines to the
 * per-API blocks.
 */
import { expectTypeOf } from 'expect-type';
import { CpuDiedError, CpuGuard, CpuSet, DynamicPerCpu, NUMERIC_OPS, NUMERIC_TYPES, PerCpuPair, PerCpuToken, PerCpuVariable, StaticPerCpu, TaskAbandonedError, TaskError, definePerCpu, getStaticPerCpu, isSharedPerCpu, region, revive, setup, task, thisCpu, typeInfo, wrap, type AbandonedTask, type BigNumericType, type CloseOptions, type CloseReport, type NumericOp, type NumericType, type PerCpuNumeric, type RegionInfo, type SharedPerCpu, type Slot, type Task, type ValueOf } from 'percpu';
import { IrqGuard, participate, runRace, schedulerStats, startScheduler, stopScheduler, type RaceResult, type RaceRow } from 'percpu/sim';
import type * as tasks from './tasks';

declare const v: { [T in NumericType]: DynamicPerCpu<T> };
declare const s: { [T in NumericType]: StaticPerCpu<T> };
declare const slot: { [T in NumericType]: Slot<T> };
declare const guard: CpuGuard;
declare const cpus: CpuSet;

// ---------------------------------------------------------------------------------------------
// Tables: one row per numeric type, one row per op.

/** The JS value of each numeric type. */
type ValueRows = {
  i8: number;
  i16: number;
  i32: number;
  i64: bigint;
  isize: bigint;
  u8: number;
  u16: number;
  u32: number;
  u64: bigint;
  usize: bigint;
};
expectTypeOf<NumericType>().toEqualTypeOf<keyof ValueRows>();
expectTypeOf<NumericType>().toEqualTypeOf<(typeof NUMERIC_TYPES)[number]>();
expectTypeOf<BigNumericType>().toEqualTypeOf<'i64' | 'isize' | 'u64' | 'usize'>();
expectTypeOf<{ [T in NumericType]: ValueOf<T> }>().toEqualTypeOf<ValueRows>();

/** For a variable whose values are V: each op of num(), its parameters and its result. */
type OpRows<V> = {
  read: { params: []; result: V };
  write: { params: [value: V]; result: void };
  add: { params: [value: V]; result: void };
  sub: { params: [value: V]; result: void };
  inc: { params: []; result: void };
  dec: { params: []; result: void };
  and: { params: [value: V]; result: void };
  or: { params: [value: V]; result: void };
  xor: { params: [value: V]; result: void };
  addReturn: { params: [value: V]; result: V };
  subReturn: { params: [value: V]; result: V };
  incReturn: { params: []; result: V };
  decReturn: { params: []; result: V };
  xchg: { params: [value: V]; result: V };
  cmpxchg: { params: [old: V, value: V]; result: V };
};
type OpsOf<T extends NumericType> = {
  -readonly [Op in keyof PerCpuNumeric<T>]: { params: Parameters<PerCpuNumeric<T>[Op]>; result: ReturnType<PerCpuNumeric<T>[Op]> };
};
expectTypeOf<NumericOp>().toEqualTypeOf<keyof OpRows<number>>();
expectTypeOf<NumericOp>().toEqualTypeOf<(typeof NUMERIC_OPS)[number]>();
expectTypeOf<{ [T in NumericType]: OpsOf<T> }>().toEqualTypeOf<{ [T in NumericType]: OpRows<ValueRows[T]> }>();

// What every reader returns, for every type: ValueOf<T>.
expectTypeOf<{ [T in NumericType]: ReturnType<DynamicPerCpu<T>['readRemote']> }>().toEqualTypeOf<ValueRows>();
expectTypeOf<{ [T in NumericType]: ReturnType<DynamicPerCpu<T>['sum']> }>().toEqualTypeOf<ValueRows>();
expectTypeOf<{ [T in NumericType]: ReturnType<StaticPerCpu<T>['sum']> }>().toEqualTypeOf<ValueRows>();
expectTypeOf<{ [T in NumericType]: ReturnType<DynamicPerCpu<T>['values']> }>().toEqualTypeOf<{ [T in NumericType]: ValueRows[T][] }>();
expectTypeOf<{ [T in NumericType]: Slot<T>['value'] }>().toEqualTypeOf<ValueRows>();

// ---------------------------------------------------------------------------------------------
// Results, spelled out.

expectTypeOf(v.u32.readRemote(0)).toEqualTypeOf<number>();
expectTypeOf(v.u64.readRemote(0)).toEqualTypeOf<bigint>();
expectTypeOf(v.u32.sum()).toEqualTypeOf<number>();
expectTypeOf(v.u64.sum()).toEqualTypeOf<bigint>();
expectTypeOf(s.i16.sum()).toEqualTypeOf<number>();
expectTypeOf(s.isize.sum()).toEqualTypeOf<bigint>();
expectTypeOf(v.u8.values()).toEqualTypeOf<number[]>();
expectTypeOf(v.usize.values()).toEqualTypeOf<bigint[]>();
expectTypeOf(v.u64.num().add(1n)).toEqualTypeOf<void>();
expectTypeOf(v.u64.getMut(guard)).toEqualTypeOf<PerCpuToken<'u64'>>();
expectTypeOf(s.u64.get(guard)).toEqualTypeOf<PerCpuToken<'u64'>>();
expectTypeOf(v.u64.getMut(guard).with((slot) => slot)).toEqualTypeOf<Slot<'u64'>>();
expectTypeOf(v.i8.getMut(guard).with((slot) => slot.value)).toEqualTypeOf<number>();
expectTypeOf(v.i64.getMut(guard).with((slot) => String(slot.value))).toEqualTypeOf<string>();
expectTypeOf(DynamicPerCpu.newZero('u16')).toEqualTypeOf<DynamicPerCpu<'u16'>>();
expectTypeOf(v.u16.clone()).toEqualTypeOf<DynamicPerCpu<'u16'>>();
expectTypeOf(definePerCpu('hits', 'usize', 0n)).toEqualTypeOf<StaticPerCpu<'usize'>>();
expectTypeOf(getStaticPerCpu('hits', 'usize')).toEqualTypeOf<StaticPerCpu<'usize'>>();
expectTypeOf(v.u8.type).toEqualTypeOf<'u8'>();
expectTypeOf(v.u8.refCount).toEqualTypeOf<number>();
expectTypeOf(v.u8.released).toEqualTypeOf<boolean>();
expectTypeOf(typeInfo('u8').max).toEqualTypeOf<number>();
expectTypeOf(typeInfo('u64').min).toEqualTypeOf<bigint>();
expectTypeOf(wrap('u8', 256)).toEqualTypeOf<number>();
expectTypeOf(wrap('i64', 2n ** 63n)).toEqualTypeOf<bigint>();
expectTypeOf(thisCpu()).toEqualTypeOf<number | null>();
expectTypeOf(guard.cpu).toEqualTypeOf<number>();
expectTypeOf(setup({ cpus: 4 })).toEqualTypeOf<RegionInfo>();
expectTypeOf(region()).toEqualTypeOf<RegionInfo | null>();
expectTypeOf(CpuSet.start({ cpus: 2 })).toEqualTypeOf<Promise<CpuSet>>();
expectTypeOf<TaskError['cpu']>().toEqualTypeOf<number>();
expectTypeOf<CpuDiedError['exitCode']>().toEqualTypeOf<number>();
expectTypeOf<TaskAbandonedError['task']>().toEqualTypeOf<string>();
declare const openSet: CpuSet;
expectTypeOf(openSet.close()).toEqualTypeOf<Promise<CloseReport>>();
expectTypeOf(openSet.close({ timeoutMs: 500 })).toEqualTypeOf<Promise<CloseReport>>();
expectTypeOf<CloseReport['abandoned'][number]>().toEqualTypeOf<AbandonedTask>();
expectTypeOf<AbandonedTask>().toEqualTypeOf<{ readonly cpu: number; readonly module: string; readonly name: string }>();
// @ts-expect-error: timeoutMs is a number of milliseconds
void openSet.close({ timeoutMs: '500' });
void openSet.close({ timeoutMs: 500 } satisfies CloseOptions);

// A variable whose type is only known as NumericType takes number | bigint: the addon checks
// the value at run time (a PerCpuTypeError), the types cannot.
declare const anyType: DynamicPerCpu<NumericType>;
expectTypeOf(anyType.readRemote(0)).toEqualTypeOf<number | bigint>();
anyType.num().add(1);
anyType.num().add(1n);

// The op family's signatures, spelled out.
expectTypeOf(v.u32.num().addReturn(1)).toEqualTypeOf<number>();
expectTypeOf(v.u64.num().incReturn()).toEqualTypeOf<bigint>();
expectTypeOf(v.i8.num().xchg(1)).toEqualTypeOf<number>();
expectTypeOf(v.i64.num().cmpxchg(1n, 2n)).toEqualTypeOf<bigint>();
expectTypeOf(v.u16.num().read()).toEqualTypeOf<number>();
expectTypeOf(v.u16.num().inc()).toEqualTypeOf<void>();
// @ts-expect-error inc() takes no operand
v.u16.num().inc(1);
// @ts-expect-error cmpxchg() takes the old and the new value
v.u16.num().cmpxchg(1);
// @ts-expect-error a number for a u64's cmpxchg
v.u64.num().cmpxchg(1n, 2);
// @ts-expect-error a bigint for a u8's xor
v.u8.num().xor(1n);
// @ts-expect-error no such op
v.u8.num().mul(2);

// PerCpuPair: two bigints, [low, high].
const pair = PerCpuPair.newZero();
expectTypeOf(pair.cmpxchgDouble([0n, 0n], [1n, 2n])).toEqualTypeOf<boolean>();
expectTypeOf(pair.readRemote(0)).toEqualTypeOf<[bigint, bigint]>();
// @ts-expect-error numbers for a u64 pair
pair.cmpxchgDouble([0, 0], [1, 2]);
// @ts-expect-error one word is not a pair
PerCpuPair.newWith([1n]);

// ---------------------------------------------------------------------------------------------
// A bigint for a number type, or a number for a bigint type, does not compile.

// num().add()
v.i8.num().add(1);
// @ts-expect-error a bigint for an i8
v.i8.num().add(1n);
v.i16.num().add(1);
// @ts-expect-error a bigint for an i16
v.i16.num().add(1n);
v.i32.num().add(1);
// @ts-expect-error a bigint for an i32
v.i32.num().add(1n);
v.u8.num().add(1);
// @ts-expect-error a bigint for a u8
v.u8.num().add(1n);
v.u16.num().add(1);
// @ts-expect-error a bigint for a u16
v.u16.num().add(1n);
v.u32.num().add(1);
// @ts-expect-error a bigint for a u32
v.u32.num().add(1n);
v.i64.num().add(1n);
// @ts-expect-error a number for an i64
v.i64.num().add(1);
v.isize.num().add(1n);
// @ts-expect-error a number for an isize
v.isize.num().add(1);
v.u64.num().add(1n);
// @ts-expect-error a number for a u64
v.u64.num().add(1);
v.usize.num().add(1n);
// @ts-expect-error a number for a usize
v.usize.num().add(1);
s.u32.num().add(1);
// @ts-expect-error a bigint for a static u32
s.u32.num().add(1n);
s.u64.num().add(1n);
// @ts-expect-error a number for a static u64
s.u64.num().add(1);

// num().sub()
v.i8.num().sub(1);
// @ts-expect-error a bigint for an i8
v.i8.num().sub(1n);
v.i16.num().sub(1);
// @ts-expect-error a bigint for an i16
v.i16.num().sub(1n);
v.i32.num().sub(1);
// @ts-expect-error a bigint for an i32
v.i32.num().sub(1n);
v.u8.num().sub(1);
// @ts-expect-error a bigint for a u8
v.u8.num().sub(1n);
v.u16.num().sub(1);
// @ts-expect-error a bigint for a u16
v.u16.num().sub(1n);
v.u32.num().sub(1);
// @ts-expect-error a bigint for a u32
v.u32.num().sub(1n);
v.i64.num().sub(1n);
// @ts-expect-error a number for an i64
v.i64.num().sub(1);
v.isize.num().sub(1n);
// @ts-expect-error a number for an isize
v.isize.num().sub(1);
v.u64.num().sub(1n);
// @ts-expect-error a number for a u64
v.u64.num().sub(1);
v.usize.num().sub(1n);
// @ts-expect-error a number for a usize
v.usize.num().sub(1);

// DynamicPerCpu.newWith()
DynamicPerCpu.newWith('i8', 1);
// @ts-expect-error a bigint for an i8
DynamicPerCpu.newWith('i8', 1n);
DynamicPerCpu.newWith('i16', 1);
// @ts-expect-error a bigint for an i16
DynamicPerCpu.newWith('i16', 1n);
DynamicPerCpu.newWith('i32', 1);
// @ts-expect-error a bigint for an i32
DynamicPerCpu.newWith('i32', 1n);
DynamicPerCpu.newWith('u8', 1);
// @ts-expect-error a bigint for a u8
DynamicPerCpu.newWith('u8', 1n);
DynamicPerCpu.newWith('u16', 1);
// @ts-expect-error a bigint for a u16
DynamicPerCpu.newWith('u16', 1n);
DynamicPerCpu.newWith('u32', 1);
// @ts-expect-error a bigint for a u32
DynamicPerCpu.newWith('u32', 1n);
DynamicPerCpu.newWith('i64', 1n);
// @ts-expect-error a number for an i64
DynamicPerCpu.newWith('i64', 1);
DynamicPerCpu.newWith('isize', 1n);
// @ts-expect-error a number for an isize
DynamicPerCpu.newWith('isize', 1);
DynamicPerCpu.newWith('u64', 1n);
// @ts-expect-error a number for a u64
DynamicPerCpu.newWith('u64', 1);
DynamicPerCpu.newWith('usize', 1n);
// @ts-expect-error a number for a usize
DynamicPerCpu.newWith('usize', 1);

// DynamicPerCpu.newFrom(): the initializer returns the type's values
DynamicPerCpu.newFrom('i8', (cpu) => cpu);
// @ts-expect-error a bigint for an i8
DynamicPerCpu.newFrom('i8', (cpu) => BigInt(cpu));
DynamicPerCpu.newFrom('i16', (cpu) => cpu);
// @ts-expect-error a bigint for an i16
DynamicPerCpu.newFrom('i16', (cpu) => BigInt(cpu));
DynamicPerCpu.newFrom('i32', (cpu) => cpu);
// @ts-expect-error a bigint for an i32
DynamicPerCpu.newFrom('i32', (cpu) => BigInt(cpu));
DynamicPerCpu.newFrom('u8', (cpu) => cpu);
// @ts-expect-error a bigint for a u8
DynamicPerCpu.newFrom('u8', (cpu) => BigInt(cpu));
DynamicPerCpu.newFrom('u16', (cpu) => cpu);
// @ts-expect-error a bigint for a u16
DynamicPerCpu.newFrom('u16', (cpu) => BigInt(cpu));
DynamicPerCpu.newFrom('u32', (cpu) => cpu);
// @ts-expect-error a bigint for a u32
DynamicPerCpu.newFrom('u32', (cpu) => BigInt(cpu));
DynamicPerCpu.newFrom('i64', (cpu) => BigInt(cpu));
// @ts-expect-error a number for an i64
DynamicPerCpu.newFrom('i64', (cpu) => cpu);
DynamicPerCpu.newFrom('isize', (cpu) => BigInt(cpu));
// @ts-expect-error a number for an isize
DynamicPerCpu.newFrom('isize', (cpu) => cpu);
DynamicPerCpu.newFrom('u64', (cpu) => BigInt(cpu));
// @ts-expect-error a number for a u64
DynamicPerCpu.newFrom('u64', (cpu) => cpu);
DynamicPerCpu.newFrom('usize', (cpu) => BigInt(cpu));
// @ts-expect-error a number for a usize
DynamicPerCpu.newFrom('usize', (cpu) => cpu);
DynamicPerCpu.newFrom('u8', (cpu: number) => cpu);
// @ts-expect-error the initializer is a function of the CPU number
DynamicPerCpu.newFrom('u8', (cpu: string) => Number(cpu));

// definePerCpu()
definePerCpu('a', 'i8', 0);
// @ts-expect-error a bigint for an i8
definePerCpu('a', 'i8', 0n);
definePerCpu('a', 'i16', 0);
// @ts-expect-error a bigint for an i16
definePerCpu('a', 'i16', 0n);
definePerCpu('a', 'i32', 0);
// @ts-expect-error a bigint for an i32
definePerCpu('a', 'i32', 0n);
definePerCpu('a', 'u8', 0);
// @ts-expect-error a bigint for a u8
definePerCpu('a', 'u8', 0n);
definePerCpu('a', 'u16', 0);
// @ts-expect-error a bigint for a u16
definePerCpu('a', 'u16', 0n);
definePerCpu('a', 'u32', 0);
// @ts-expect-error a bigint for a u32
definePerCpu('a', 'u32', 0n);
definePerCpu('a', 'i64', 0n);
// @ts-expect-error a number for an i64
definePerCpu('a', 'i64', 0);
definePerCpu('a', 'isize', 0n);
// @ts-expect-error a number for an isize
definePerCpu('a', 'isize', 0);
definePerCpu('a', 'u64', 0n);
// @ts-expect-error a number for a u64
definePerCpu('a', 'u64', 0);
definePerCpu('a', 'usize', 0n);
// @ts-expect-error a number for a usize
definePerCpu('a', 'usize', 0);

// writeRemote()
v.i8.writeRemote(1, 5);
// @ts-expect-error a bigint for an i8
v.i8.writeRemote(1, 5n);
v.i16.writeRemote(1, 5);
// @ts-expect-error a bigint for an i16
v.i16.writeRemote(1, 5n);
v.i32.writeRemote(1, 5);
// @ts-expect-error a bigint for an i32
v.i32.writeRemote(1, 5n);
v.u8.writeRemote(1, 5);
// @ts-expect-error a bigint for a u8
v.u8.writeRemote(1, 5n);
v.u16.writeRemote(1, 5);
// @ts-expect-error a bigint for a u16
v.u16.writeRemote(1, 5n);
v.u32.writeRemote(1, 5);
// @ts-expect-error a bigint for a u32
v.u32.writeRemote(1, 5n);
v.i64.writeRemote(1, 5n);
// @ts-expect-error a number for an i64
v.i64.writeRemote(1, 5);
v.isize.writeRemote(1, 5n);
// @ts-expect-error a number for an isize
v.isize.writeRemote(1, 5);
v.u64.writeRemote(1, 5n);
// @ts-expect-error a number for a u64
v.u64.writeRemote(1, 5);
v.usize.writeRemote(1, 5n);
// @ts-expect-error a number for a usize
v.usize.writeRemote(1, 5);
s.u8.writeRemote(1, 5);
// @ts-expect-error a bigint for a static u8
s.u8.writeRemote(1, 5n);
v.u8.writeRemote(1, 5);
// @ts-expect-error the CPU is a number, for every type
v.u64.writeRemote(1n, 5n);

// slot.value = ... (inside token.with())
slot.i8.value = 2;
// @ts-expect-error a bigint for an i8
slot.i8.value = 2n;
slot.i16.value = 2;
// @ts-expect-error a bigint for an i16
slot.i16.value = 2n;
slot.i32.value = 2;
// @ts-expect-error a bigint for an i32
slot.i32.value = 2n;
slot.u8.value = 2;
// @ts-expect-error a bigint for a u8
slot.u8.value = 2n;
slot.u16.value = 2;
// @ts-expect-error a bigint for a u16
slot.u16.value = 2n;
slot.u32.value = 2;
// @ts-expect-error a bigint for a u32
slot.u32.value = 2n;
slot.i64.value = 2n;
// @ts-expect-error a number for an i64
slot.i64.value = 2;
slot.isize.value = 2n;
// @ts-expect-error a number for an isize
slot.isize.value = 2;
slot.u64.value = 2n;
// @ts-expect-error a number for a u64
slot.u64.value = 2;
slot.usize.value = 2n;
// @ts-expect-error a number for a usize
slot.usize.value = 2;
v.u32.getMut(guard).with((slot) => {
  slot.value = 10;
  // @ts-expect-error a bigint for a u32, through the token
  slot.value = 10n;
});
v.u64.getMut(guard).with((slot) => {
  slot.value = 10n;
  // @ts-expect-error a number for a u64, through the token
  slot.value = 10;
});

// wrap()
wrap('u8', 256);
// @ts-expect-error a bigint for a u8
wrap('u8', 256n);

// ---------------------------------------------------------------------------------------------
// Type names: only the ten, as literals.

DynamicPerCpu.newZero('u64');
// @ts-expect-error 'u128' is not a numeric type
DynamicPerCpu.newZero('u128');
// @ts-expect-error 'f64' is not a numeric type
definePerCpu('a', 'f64', 0);
// @ts-expect-error 'U8': names are lower-case
DynamicPerCpu.newWith('U8', 0);
// @ts-expect-error 'int' is not a numeric type
typeInfo('int');
// @ts-expect-error 'i128' is not a numeric type
getStaticPerCpu('a', 'i128');
declare const someString: string;
// @ts-expect-error any string is not a type name (check it against NUMERIC_TYPES first)
DynamicPerCpu.newZero(someString);
// @ts-expect-error DynamicPerCpu<T> takes a numeric type
type NoSuchVariable = DynamicPerCpu<'u128'>;

// ---------------------------------------------------------------------------------------------
// Handles and what is not one.

// A variable of one type is not a variable of another.
const sameType: DynamicPerCpu<'u64'> = v.u64;
// @ts-expect-error a u32 variable is not a u64 variable
const otherWidth: DynamicPerCpu<'u64'> = v.u32;
// @ts-expect-error an i64 variable is not a u64 variable
const otherSign: DynamicPerCpu<'u64'> = v.i64;

// A SharedPerCpu (what share() gives) is plain data, not a DynamicPerCpu.
const shared = v.u64.share();
expectTypeOf(shared).toEqualTypeOf<SharedPerCpu<'u64'>>();
expectTypeOf(s.u8.share()).toEqualTypeOf<SharedPerCpu<'u8'>>();
// @ts-expect-error a SharedPerCpu is not a DynamicPerCpu
const notAHandle: DynamicPerCpu<'u64'> = shared;
// @ts-expect-error a SharedPerCpu has no ops: revive() it first
shared.num();
// @ts-expect-error a DynamicPerCpu is not a SharedPerCpu
const notShared: SharedPerCpu<'u64'> = v.u64;
expectTypeOf(revive(shared)).toEqualTypeOf<DynamicPerCpu<'u64'> | StaticPerCpu<'u64'>>();
// @ts-expect-error revive() may give a static, which has no release(): narrow it first
revive(shared).release();
const revived = revive(shared);
if (revived instanceof DynamicPerCpu) {
  expectTypeOf(revived).toEqualTypeOf<DynamicPerCpu<'u64'>>();
  revived.release();
}
declare const message: unknown;
if (isSharedPerCpu(message)) expectTypeOf(message).toEqualTypeOf<SharedPerCpu>();

// A StaticPerCpu is not a DynamicPerCpu: it is never cloned or released. Both are PerCpuVariables.
const variable: PerCpuVariable<'u8'> = s.u8;
const alsoVariable: PerCpuVariable<'u8'> = v.u8;
// @ts-expect-error a static is not a dynamic
const notDynamic: DynamicPerCpu<'u8'> = s.u8;
// @ts-expect-error a dynamic is not a static
const notStatic: StaticPerCpu<'u8'> = v.u8;
// @ts-expect-error a static has no release()
s.u8.release();
// @ts-expect-error a static has no clone()
s.u8.clone();

// getMut() takes a CpuGuard, not something shaped like one.
v.u8.getMut(guard);
// @ts-expect-error not a CpuGuard
v.u8.getMut({ cpu: 0, live: true, release() {}, [Symbol.dispose]() {} });

// What the types cannot know: whether a handle was released. After release() (or the last
// release of its clones) a variable keeps its type, and using it throws ReleasedError at run
// time. `using` ends the name's scope where it releases the handle, which is as close as the
// types come.
{
  using scoped = DynamicPerCpu.newZero('u64');
  scoped.num().add(1n);
}
v.u64.release();
v.u64.num().add(1n); // compiles; throws ReleasedError at run time

// ---------------------------------------------------------------------------------------------
// Tasks: task<typeof fn>() carries fn's signature to onEachCpu() and runOn().

const MODULE = '/an/absolute/path/tasks.js';
const count = task<typeof tasks.count>(MODULE, 'count');
const addTo = task<typeof tasks.addTo>(MODULE, 'addTo');
const total = task<typeof tasks.total>(new URL(`file://${MODULE}`), 'total');
expectTypeOf(count).toEqualTypeOf<Task<[DynamicPerCpu<'u64'>], void>>();
expectTypeOf(addTo).toEqualTypeOf<Task<[DynamicPerCpu<'u32'>, number], number>>();
expectTypeOf(total).toEqualTypeOf<Task<[DynamicPerCpu<'i64'>, StaticPerCpu<'u8'>], { counter: bigint; hits: number }>>();
expectTypeOf(cpus.onEachCpu(count, v.u64)).toEqualTypeOf<Promise<void[]>>();
expectTypeOf(cpus.runOn(1, addTo, v.u32, 5)).toEqualTypeOf<Promise<number>>();
expectTypeOf(cpus.runOn(1, total, v.i64, s.u8)).toEqualTypeOf<Promise<{ counter: bigint; hits: number }>>();
expectTypeOf(cpus.onEachCpu(total, v.i64, s.u8)).toEqualTypeOf<Promise<{ counter: bigint; hits: number }[]>>();

cpus.onEachCpu(count, v.u64);
// @ts-expect-error a u32 variable where the task takes a u64 one
cpus.onEachCpu(count, v.u32);
// @ts-expect-error a missing argument
cpus.onEachCpu(count);
// @ts-expect-error an extra argument
cpus.onEachCpu(count, v.u64, 1);
// @ts-expect-error a share ticket where the task takes a variable (CpuSet shares variables itself)
cpus.onEachCpu(count, shared);
cpus.runOn(1, addTo, v.u32, 5);
// @ts-expect-error a bigint where the task takes a number
cpus.runOn(1, addTo, v.u32, 5n);
// @ts-expect-error the arguments in the wrong order
cpus.runOn(1, addTo, 5, v.u32);
cpus.runOn(1, total, v.i64, s.u8);
// @ts-expect-error a dynamic where the task takes a static
cpus.runOn(1, total, v.i64, v.u8);
// @ts-expect-error the CPU is a number
cpus.runOn('1', count, v.u64);
// @ts-expect-error task<F>() takes a function type
task<number>(MODULE, 'count');
// @ts-expect-error a task's module is a path or a URL
task<typeof tasks.count>(42, 'count');
// Not checked: that the module exports `name` with F's signature (task<F>() takes F on trust;
// a missing export is a PerCpuTypeError when the task runs).
task<typeof tasks.count>(MODULE, 'noSuchExport');

// ---------------------------------------------------------------------------------------------
// The scheduler (simulated preemption, migration and interrupts) and the race.

startScheduler();
startScheduler({ migrateHz: 1000, irqHz: 500, cpus: [1, 2] });
// @ts-expect-error rates are numbers
startScheduler({ migrateHz: '1000' });
// @ts-expect-error cpus is a list of CPU numbers
startScheduler({ cpus: 3 });
expectTypeOf(stopScheduler()).toEqualTypeOf<boolean>();
expectTypeOf(participate()).toEqualTypeOf<boolean>();
expectTypeOf(schedulerStats().migrations).toEqualTypeOf<number>();
expectTypeOf(schedulerStats().cpus).toEqualTypeOf<number[] | null>();
{
  using irqs = new IrqGuard();
  expectTypeOf(irqs.live).toEqualTypeOf<boolean>();
}
runRace({ rows: [{ scenario: 'migration', method: 'gs' }, { scenario: 'migration', method: 'js-add', backend: 'generic' }] });
// @ts-expect-error no such scenario
runRace({ rows: [{ scenario: 'preemption', method: 'gs' }] });
// @ts-expect-error no such method
runRace({ rows: [{ scenario: 'migration', method: 'asm' }] });
expectTypeOf(runRace()).toEqualTypeOf<Promise<RaceResult>>();
expectTypeOf<RaceRow['expected']>().toEqualTypeOf<'none lost' | 'some lost'>();

export {};
