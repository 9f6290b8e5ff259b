/**
 * The ES module view of the types (package.json "exports" import condition: dist/lib/index.d.mts):
 * the same declarations as the CommonJS view, so an ES module user gets the same checks.
 */
import { expectTypeOf } from 'expect-type';
import * as esm from 'percpu';
import { CpuSet, DynamicPerCpu, task } from 'percpu';
import type * as cjs from 'percpu' with { 'resolution-mode': 'require' };
import type * as tasks from './tasks.js';

// Seen from an ES module, a CommonJS module also has a default export (its module.exports); the
// ES module entry re-exports the names only, as at run time. Every name is the same declaration.
type Esm = typeof esm;
type Cjs = typeof cjs;
type Identical<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
expectTypeOf<keyof Esm>().toEqualTypeOf<Exclude<keyof Cjs, 'default'>>();
expectTypeOf<{ [K in keyof Esm]: Identical<Esm[K], Cjs[K]> }>().toEqualTypeOf<{ [K in keyof Esm]: true }>();
expectTypeOf<DynamicPerCpu<'u64'>>().toEqualTypeOf<cjs.DynamicPerCpu<'u64'>>();

declare const cpus: CpuSet;
const requests = DynamicPerCpu.newZero('u64');
const count = task<typeof tasks.count>(new URL('./tasks.js', import.meta.url), 'count');
expectTypeOf(cpus.onEachCpu(count, requests)).toEqualTypeOf<Promise<void[]>>();
expectTypeOf(requests.sum()).toEqualTypeOf<bigint>();
requests.num().add(1n);
// @ts-expect-error a number for a u64
requests.num().add(1);
// @ts-expect-error a u32 variable where the task takes a u64 one
cpus.onEachCpu(count, DynamicPerCpu.newZero('u32'));
