/**
 * examples/piscina: a piscina pool whose workers are CPUs. The main thread sets up the region and
 * stays out of it: it hands out jobs and reads exact sums. Each worker claims a free CPU on its
 * first job (./worker) and counts there, into a DynamicPerCpu<'u64'> shared with each job and a
 * static per-CPU counter of jobs; the pool's end gives every CPU back.
 *
 *   npm run build:ts && node dist/examples/piscina/main.js 4 200   # workers, jobs
 */
import * as path from 'node:path';
import { Piscina } from 'piscina';
import { DynamicPerCpu, bind, definePerCpu, setup, unbind } from 'percpu';
import type { CountJob } from './worker';

export async function countWithPool(threads: number, jobs: number, increments: number) {
  setup({ cpus: threads }); // a CPU for every worker; this thread takes none
  const requests = DynamicPerCpu.newZero('u64');
  const jobsDone = definePerCpu('examples.piscina.jobs', 'u32', 0);
  const jobsBefore = jobsDone.sum();
  const pool = new Piscina<CountJob, number>({ filename: path.join(__dirname, 'worker.js'), name: 'count', minThreads: threads, maxThreads: threads });
  try {
    const runs = Array.from({ length: jobs }, () => pool.run({ requests: requests.share(), increments }));
    const cpus = await Promise.all(runs); // the CPU each job ran on
    return { cpus, requests: requests.sum(), byCpu: requests.values(), jobs: jobsDone.sum() - jobsBefore };
  } finally {
    await pool.destroy(); // its workers end, and their CPUs are free again
    requests.release();
  }
}

/** Whether every CPU of the region is free: this thread can bind each one in turn. */
export function everyCpuFree(cpus: number): boolean {
  for (let cpu = 0; cpu < cpus; cpu++) {
    try {
      bind(cpu);
      unbind();
    } catch {
      return false;
    }
  }
  return true;
}

if (require.main === module) {
  const [threads = 4, jobs = 200] = process.argv.slice(2).map(Number);
  const increments = 1000;
  void countWithPool(threads, jobs, increments).then((counted) => {
    const runsOn = (cpu: number) => counted.cpus.filter((c) => c === cpu).length;
    console.log(`${threads} workers ran ${jobs} jobs of ${increments} increments`);
    console.log(`requests.sum() = ${counted.requests}, jobs counted = ${counted.jobs}`);
    console.log(`each CPU's count = ${increments} x the jobs it ran: ${counted.byCpu.every((n, cpu) => n === BigInt(increments * runsOn(cpu)))}`);
    console.log(`every CPU free after pool.destroy(): ${everyCpuFree(threads)}`);
  });
}
