/**
 * examples/http-counters: an HTTP server on every CPU of a CpuSet, counting requests per CPU in a
 * DynamicPerCpu<'u64'>; the main thread reads the total with sum() and each CPU's count with
 * readRemote(), while the servers keep counting.
 *
 * Each CPU listens on its own port: Node 20's worker threads cannot share a listening socket, so
 * a load balancer (or the client) spreads the requests.
 *
 *   npm run build:ts && node dist/examples/http-counters/main.js 4   # then Ctrl-C for the counts
 */
import { CpuSet, DynamicPerCpu, task } from 'percpu';
import type * as server from './server';

const SERVER = require.resolve('./server');

export async function start(cpuCount: number) {
  const cpus = await CpuSet.start({ cpus: cpuCount }); // this thread is CPU 0, workers are 1..n-1
  const requests = DynamicPerCpu.newZero('u64');
  const ports = await cpus.onEachCpu(task<typeof server.serve>(SERVER, 'serve'), requests);
  return {
    /** CPU n serves urls[n]. */
    urls: ports.map((port) => `http://127.0.0.1:${port}/`),
    /** Requests served so far: in all, and by CPU. */
    counts: () => ({ total: requests.sum(), byCpu: ports.map((_, cpu) => requests.readRemote(cpu)) }),
    async stop(): Promise<void> {
      await cpus.onEachCpu(task<typeof server.stop>(SERVER, 'stop'));
      requests.release();
      await cpus.close();
    },
  };
}

if (require.main === module) {
  void start(Number(process.argv[2] ?? 4)).then((counters) => {
    console.log(counters.urls.join('\n'));
    process.once('SIGINT', () => {
      const { total, byCpu } = counters.counts();
      console.log(`${total} requests (${byCpu.join(' + ')})`);
      void counters.stop();
    });
  });
}
