/**
 * The callbacks of the Rust sample module (samples/rust/rust_percpu.rs), as tasks that run on
 * every CPU of a CpuSet. Each returns what it saw, so the driver (sample.ts) can check and print
 * it in CPU order.
 */
import { CpuGuard, DynamicPerCpu, definePerCpu, type StaticPerCpu } from '../core/percpu';
import { thisCpu } from '../core/region';
import { typeInfo, wrap, type NumericType, type ValueOf } from '../core/types';

/** One comparison of the per-CPU slot with a plain local model (the sample's `native` variables). */
export interface Step {
  what: string;
  expected: string;
  actual: string;
}

function step(what: string, expected: number | bigint, actual: number | bigint): Step {
  return { what, expected: String(expected), actual: String(actual) };
}

const U64_NEG_ONE = wrap('u64', -1n); // (-1i64) as u64

/** The static tests: PERCPU (i64), UPERCPU (u64) and CHECKED (u64), through guarded tokens. */
export function staticTests(): Step[] {
  const steps: Step[] = [];
  using guard = new CpuGuard();

  const percpu = definePerCpu('PERCPU', 'i64', 0n);
  let native = 0n;
  native += -1n;
  percpu.getMut(guard).with((val) => {
    val.value += -1n;
    steps.push(step('PERCPU += -1', native, val.value));
  });
  native += 1n;
  percpu.getMut(guard).with((val) => {
    val.value += 1n;
    steps.push(step('PERCPU += 1', native, val.value));
  });

  const wrappingSequence = (name: string, variable: StaticPerCpu<'u64'>, access: 'getMut' | 'get') => {
    let unative = 0n;
    const token = () => (access === 'get' ? variable.get(guard) : variable.getMut(guard));
    unative += 1n;
    token().with((val) => {
      val.value += 1n;
      steps.push(step(`${name} += 1`, unative, val.value));
    });
    for (let i = 0; i < 2; i++) {
      unative = wrap('u64', unative + U64_NEG_ONE);
      token().with((val) => {
        val.value = wrap('u64', val.value + U64_NEG_ONE);
        steps.push(step(`${name} wrapping_add(-1 as u64)`, unative, val.value));
      });
    }
    unative = 0n;
    token().with((val) => {
      val.value = 0n;
    });
    unative = wrap('u64', unative - 1n);
    token().with((val) => {
      val.value = wrap('u64', val.value - 1n);
      steps.push(step(`${name} wrapping_sub(1)`, unative, val.value));
    });
    steps.push(step(`${name} == u64::MAX`, 18446744073709551615n, unative));
  };
  wrappingSequence('UPERCPU', definePerCpu('UPERCPU', 'u64', 0n), 'getMut');
  wrappingSequence('CHECKED', definePerCpu('CHECKED', 'u64', 0n), 'get');
  return steps;
}

/** inc_percpu: one increment of this CPU's slot; returns the CPU, for "Incrementing on {cpu}". */
export function increment(variable: DynamicPerCpu<'u64'>): number {
  variable.num().add(1n);
  return thisCpu()!;
}

/** check_percpu: this CPU's slot, read through a guarded token. */
export function check(variable: DynamicPerCpu<'u64'>): bigint {
  using guard = new CpuGuard();
  return variable.getMut(guard).with((val) => val.value);
}

// The release test keeps one clone per CPU here, as the Rust test puts a clone in every slot.
const kept = new Map<number, DynamicPerCpu<NumericType>>();

/** Keeps a clone of the handle on this CPU; returns the reference count seen after cloning. */
export function keepClone(variable: DynamicPerCpu<'u64'>): number {
  const clone = variable.clone();
  kept.set(thisCpu()!, clone);
  return clone.refCount;
}

/** Drops this CPU's clone; returns whether it had one. */
export function dropClone(): boolean {
  const clone = kept.get(thisCpu()!);
  kept.delete(thisCpu()!);
  clone?.release();
  return clone !== undefined;
}

/** make_optimization_test!: set 10 through the token, then add 1, add 10, sub 5 with single instructions. */
export function numericSequence<T extends NumericType>(variable: DynamicPerCpu<T>): string[] {
  const v = (n: number) => (typeInfo(variable.type).big ? BigInt(n) : n) as ValueOf<T>;
  const seen: string[] = [];
  using guard = new CpuGuard();
  const read = () => variable.getMut(guard).with((val) => String(val.value));
  variable.getMut(guard).with((val) => {
    val.value = v(10);
  });
  variable.num().add(v(1));
  seen.push(read());
  variable.num().add(v(10));
  seen.push(read());
  variable.num().sub(v(5));
  seen.push(read());
  return seen;
}
