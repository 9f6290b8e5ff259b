// A worker that binds a CPU and then calls into the addon without end, until it is terminated:
// termination lands in the middle of native calls. Says 'looping' once it is under way.
import { parentPort, workerData } from 'node:worker_threads';
import { DynamicPerCpu, bind, stats } from '../lib';

bind((workerData as { cpu: number }).cpu);
const v = DynamicPerCpu.newZero('u64');
parentPort!.postMessage('looping');
for (;;) {
  v.num().add(1n);
  v.readRemote(0);
  stats();
  DynamicPerCpu.newZero('u8').release();
}
