/**
 * tasks<typeof import('./tasks.js')>(new URL('./tasks.js', import.meta.url)) in an ES module: the
 * names are checked against the module's exports as in CommonJS.
 */
import { expectTypeOf } from 'expect-type';
import { CpuSet, DynamicPerCpu, tasks, type Task } from 'percpu';

const t = tasks<typeof import('./tasks.js')>(new URL('./tasks.js', import.meta.url));
expectTypeOf(t.count).toEqualTypeOf<Task<[DynamicPerCpu<'u64'>], void>>();
// @ts-expect-error a typo is no task
void t.handle;
// @ts-expect-error a non-function export is no task
void t.notATask;

const set = await CpuSet.start({ cpus: 2, mainThread: false });
expectTypeOf(set.onEachCpu(t.count, DynamicPerCpu.newZero('u64'))).toEqualTypeOf<Promise<void[]>>();
