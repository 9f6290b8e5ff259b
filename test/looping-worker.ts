// A worker that binds a CPU and then calls into the addon without end, until it is terminated:
// termination lands in the middle of native calls. Says 'looping' once it is under way.
//
// With `count`, it instead adds 1 to its CPU's slot of a shared variable in a loop, and after
// each add stores how many adds it has done in progress[0] (a SharedArrayBuffer), so whoever
// terminates it knows what the slot must hold. It stops when progress[1] becomes non-zero, or
// ends its thread with process.exit() after `exitAt` adds.
import { parentPort, workerData } from 'node:worker_threads';
import { DynamicPerCpu, bind, revive, stats, typeInfo, type SharedPerCpu } from '../lib';

export interface CountingWorkerData {
  cpu: number;
  count: { shared: SharedPerCpu; progress: SharedArrayBuffer; exitAt?: number };
}

const data = workerData as { cpu: number; count?: CountingWorkerData['count'] };
bind(data.cpu);
if (data.count === undefined) {
  const v = DynamicPerCpu.newZero('u64');
  parentPort!.postMessage('looping');
  for (;;) {
    v.num().add(1n);
    v.readRemote(0);
    stats();
    DynamicPerCpu.newZero('u8').release();
  }
} else {
  const { shared, progress: buffer, exitAt } = data.count;
  const v = revive(shared);
  const add = v.num().add as (value: number | bigint) => void;
  const one = typeInfo(v.type).big ? 1n : 1;
  const progress = new Int32Array(buffer);
  parentPort!.postMessage('looping');
  let count = 0;
  while (Atomics.load(progress, 1) === 0) {
    add(one); // one instruction: from here the slot holds count + 1 ...
    count++;
    Atomics.store(progress, 0, count); // ... and from here the report says so
    if (count === exitAt) process.exit(5);
  }
  if (v instanceof DynamicPerCpu) v.release();
  parentPort!.postMessage('stopped');
}
