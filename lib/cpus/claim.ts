/**
 * Threads that a CpuSet did not start, as CPUs: a plain `Worker`, a worker of a pool (piscina),
 * claims a free CPU of the region and becomes that CPU until it releases it or ends.
 */
import { CpuTakenError, NotSetUpError } from '../core/errors';
import { native } from '../core/native';
import { thisCpu } from '../core/region';

/**
 * Binds the calling thread to the lowest free CPU of the region and returns that CPU; a thread
 * already bound keeps its CPU and gets its number (so each task of a pool may call it first). When
 * the thread ends, its CPU is free again, as it is after releaseCpu(). The region must be set up
 * (setup() or CpuSet.start() in the main thread): NotSetUpError otherwise; CpuTakenError when every
 * CPU is taken (a pool needs at most as many threads as the region has CPUs, fewer if the main
 * thread or a CpuSet holds some).
 */
export function claimCpu(): number {
  const current = native.thisCpu();
  if (current >= 0) return current;
  const region = native.region();
  if (region === null) throw new NotSetUpError('claimCpu() needs the per-CPU region: call setup() (or CpuSet.start()) on the main thread first');
  for (let cpu = 0; cpu < region.cpus; cpu++) {
    try {
      native.bind(cpu);
      return cpu;
    } catch (error) {
      if (!(error instanceof CpuTakenError)) throw error; // taken by another thread since: try the next one
    }
  }
  throw new CpuTakenError(`every CPU of the region (${region.cpus}) is taken: no CPU left for this thread`);
}

/**
 * Gives the calling thread's CPU back (unbinds it, wherever the scheduler moved it) and returns
 * that CPU, or null if the thread was not bound. A CpuGuard held on the thread is a GuardError,
 * and the thread stays bound.
 */
export function releaseCpu(): number | null {
  const cpu = thisCpu();
  if (cpu !== null) native.unbind();
  return cpu;
}
