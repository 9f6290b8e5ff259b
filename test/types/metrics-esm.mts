/**
 * percpu/metrics seen from an ES module (package.json "exports" import condition: index.d.mts):
 * the same declarations as the CommonJS view.
 */
import { expectTypeOf } from 'expect-type';
import * as esm from 'percpu/metrics';
import type * as cjs from 'percpu/metrics' with { 'resolution-mode': 'require' };

type Esm = typeof esm;
type Cjs = typeof cjs;
type Identical<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
expectTypeOf<keyof Esm>().toEqualTypeOf<Exclude<keyof Cjs, 'default'>>();
expectTypeOf<{ [K in keyof Esm]: Identical<Esm[K], Cjs[K]> }>().toEqualTypeOf<{ [K in keyof Esm]: true }>();
expectTypeOf(new esm.PerCpuCounter({ name: 'n', help: 'h' }).value()).toEqualTypeOf<bigint>();
