/**
 * The per-CPU half of examples/http-metrics: each CPU (a worker thread, or the main thread for
 * CPU 0) runs its own HTTP server and records each request in its own slots of the metrics.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { thisCpu } from 'percpu';
import { httpMetrics } from './metrics';

// Module state is per thread: each CPU has its own server.
let server: http.Server | undefined;

/** Starts this CPU's server on a free port of 127.0.0.1 and resolves with the port. */
export async function serve(): Promise<number> {
  const { requests, latency } = httpMetrics(); // the same metrics as every other thread's, by name
  server = http.createServer((_request, response) => {
    const start = process.hrtime.bigint();
    const body = `served by CPU ${thisCpu()}\n`;
    requests.inc(); // this CPU's slot: one `inc` relative to GS, no lock, no message
    latency.observe(process.hrtime.bigint() - start); // its bucket's `inc` and the sum's `add`
    response.end(body); // recorded before the response leaves: a scrape after it counts it
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Stops this CPU's server. */
export async function stop(): Promise<void> {
  server?.closeAllConnections();
  await new Promise<void>((resolve, reject) => server?.close((error) => (error ? reject(error) : resolve())));
  server = undefined;
}
