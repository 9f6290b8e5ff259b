/**
 * The per-CPU half of examples/http-counters: tasks that run on each CPU of the CpuSet. Each CPU
 * (a worker thread, or the main thread for CPU 0) runs its own HTTP server and counts the requests
 * it handles in its own slot of a per-CPU variable.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { thisCpu, type DynamicPerCpu } from 'percpu';

// Module state is per thread: each CPU has its own server and its own handle.
let server: http.Server | undefined;
let requests: DynamicPerCpu<'u64'> | undefined;

/** Starts this CPU's server on a free port of 127.0.0.1 and resolves with the port. */
export async function serve(counter: DynamicPerCpu<'u64'>): Promise<number> {
  // A task's arguments are released when the task returns; the server outlives it, so it keeps a clone.
  const mine = (requests = counter.clone());
  server = http.createServer((_request, response) => {
    mine.num().add(1n); // this CPU's slot: one `add` relative to GS, no lock, no atomics
    response.end(`served by CPU ${thisCpu()}\n`);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Stops this CPU's server and releases its handle. */
export async function stop(): Promise<void> {
  server?.closeAllConnections();
  await new Promise<void>((resolve, reject) => server?.close((error) => (error ? reject(error) : resolve())));
  requests?.release();
  server = requests = undefined;
}
