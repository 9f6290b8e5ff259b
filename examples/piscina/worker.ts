/**
 * examples/piscina: the pool's worker file. A job first makes its worker a CPU with claimCpu():
 * the worker's first job binds it to a free CPU of the region, the later ones find it bound. The
 * worker gives its CPU back when the pool ends it.
 */
import { claimCpu, getStaticPerCpu, revive, type DynamicPerCpu, type SharedPerCpu } from 'percpu';

export interface CountJob {
  /** The counter, shared for this job (revived here, released when the job ends). */
  requests: SharedPerCpu<'u64'>;
  increments: number;
}

/** Counts `increments` requests and one job on this worker's CPU, and returns the CPU. */
export function count({ requests, increments }: CountJob): number {
  const cpu = claimCpu();
  const counter = revive(requests) as DynamicPerCpu<'u64'>;
  try {
    const add = counter.num().add;
    for (let i = 0; i < increments; i++) add(1n);
    getStaticPerCpu('examples.piscina.jobs', 'u32').num().add(1);
  } finally {
    counter.release();
  }
  return cpu;
}
