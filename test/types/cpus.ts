/**
 * Compile-time tests of issue 15's task and CPU APIs (CommonJS view): tasks<typeof import(...)>()
 * checks task names against the module's exports, CpuSet.start's mainThread and workerOptions,
 * claimCpu() and releaseCpu(), and the race's streaming options and row formatting.
 */
import { expectTypeOf } from 'expect-type';
import { SHARE_ENV } from 'node:worker_threads';
import {
  CpuSet,
  DynamicPerCpu,
  StaticPerCpu,
  claimCpu,
  releaseCpu,
  task,
  tasks,
  type CpuSetOptions,
  type CpuWorkerOptions,
  type Task,
  type TaskName,
  type TaskOf,
  type Tasks,
} from 'percpu';
import { formatRaceHeader, formatRaceRow, runRace, type RaceOptions, type RaceRow } from 'percpu/sim';
import type * as taskModule from './tasks';

// tasks<M>(): a Task per exported function of M, typed by it; nothing for anything else.
const t = tasks<typeof taskModule>(require.resolve('./tasks'));
expectTypeOf(t.count).toEqualTypeOf<Task<[DynamicPerCpu<'u64'>], void>>();
expectTypeOf(t.addTo).toEqualTypeOf<Task<[DynamicPerCpu<'u32'>, number], number>>();
expectTypeOf(t.total).toEqualTypeOf<Task<[DynamicPerCpu<'i64'>, StaticPerCpu<'u8'>], { counter: bigint; hits: number }>>();
expectTypeOf<TaskName<typeof taskModule>>().toEqualTypeOf<'count' | 'addTo' | 'total'>();
expectTypeOf<keyof Tasks<typeof taskModule>>().toEqualTypeOf<'count' | 'addTo' | 'total'>();
expectTypeOf<TaskOf<typeof taskModule.addTo>>().toEqualTypeOf<Task<[DynamicPerCpu<'u32'>, number], number>>();
// The same Task type as task<typeof fn>() gives.
expectTypeOf(t.addTo).toEqualTypeOf(task<typeof taskModule.addTo>('/abs/tasks.js', 'addTo'));
// @ts-expect-error a typo is no task
void t.cuont;
// @ts-expect-error a non-function export is no task
void t.notATask;
// @ts-expect-error an object export is no task either
void t.ALSO_NOT_A_TASK;
// @ts-expect-error the tasks are read-only
t.count = t.count;
// @ts-expect-error tasks() takes a path or a URL
tasks<typeof taskModule>(42);
// Without the module's type there are no tasks to name.
// @ts-expect-error no module type: no tasks
void tasks('/abs/tasks.js').count;

declare const cpus: CpuSet;
const requests = DynamicPerCpu.newZero('u64');
expectTypeOf(cpus.onEachCpu(t.count, requests)).toEqualTypeOf<Promise<void[]>>();
expectTypeOf(cpus.runOn(1, t.addTo, DynamicPerCpu.newZero('u32'), 5)).toEqualTypeOf<Promise<number>>();
// @ts-expect-error a u32 variable where the task takes a u64 one
cpus.onEachCpu(t.count, DynamicPerCpu.newZero('u32'));
// @ts-expect-error a string where the task takes a number
cpus.runOn(1, t.addTo, DynamicPerCpu.newZero('u32'), '5');

// Who is CPU 0, and the workers' options.
expectTypeOf(cpus.mainThread).toEqualTypeOf<boolean>();
expectTypeOf(CpuSet.start({ cpus: 4, mainThread: false })).toEqualTypeOf<Promise<CpuSet>>();
const workerOptions: CpuWorkerOptions = {
  execArgv: ['--import', 'tsx'],
  env: { ...process.env, DEBUG: undefined },
  resourceLimits: { maxOldGenerationSizeMb: 256, stackSizeMb: 4 },
  argv: ['--flag'],
};
void CpuSet.start({ workerOptions });
void CpuSet.start({ workerOptions: { env: SHARE_ENV } });
// @ts-expect-error workerData is the set's own
void CpuSet.start({ workerOptions: { workerData: 1 } });
// @ts-expect-error env values are strings
void CpuSet.start({ workerOptions: { env: { N: 1 } } });
// @ts-expect-error mainThread is a boolean
void CpuSet.start({ mainThread: 'no' });
expectTypeOf<CpuSetOptions['mainThread']>().toEqualTypeOf<boolean | undefined>();

// Existing threads as CPUs.
expectTypeOf(claimCpu()).toEqualTypeOf<number>();
expectTypeOf(releaseCpu()).toEqualTypeOf<number | null>();

// The race, streamed.
const options: RaceOptions = {
  onRow: (row, index, total) => {
    expectTypeOf(row).toEqualTypeOf<RaceRow>();
    expectTypeOf(index).toEqualTypeOf<number>();
    expectTypeOf(total).toEqualTypeOf<number>();
    console.log(formatRaceRow(row));
  },
  onProgress: (message) => expectTypeOf(message).toEqualTypeOf<string>(),
};
void runRace(options);
expectTypeOf(formatRaceHeader()).toEqualTypeOf<string>();
// @ts-expect-error onRow is a function
void runRace({ onRow: 'print' });
