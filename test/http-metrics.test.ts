/**
 * examples/http-metrics: HTTP servers on every CPU record a request counter and a latency
 * histogram; the main thread serves /metrics through prom-client. Scraped while the load runs,
 * every scrape parses (a Prometheus text-format parser) and agrees with the responses seen so far;
 * once the load is done the counts are exactly the requests sent.
 */
import * as assert from 'node:assert/strict';
import { thisCpu } from '../lib';
import { start } from '../examples/http-metrics/main';
import { LATENCY_BUCKETS_NS, httpMetrics } from '../examples/http-metrics/metrics';
import { TEST_CPUS } from './helpers';

interface ParsedFamily {
  name: string;
  type: string;
  metrics: { value?: string; buckets?: Record<string, string>; count?: string; sum?: string }[];
}
const parsePrometheus = require('parse-prometheus-text-format') as (text: string) => ParsedFamily[];

/** One scrape of /metrics, parsed: the request count and the histogram. */
async function scrape(url: string) {
  const response = await fetch(url);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const families = parsePrometheus(await response.text());
  assert.deepEqual(
    families.map((f) => [f.name, f.type]),
    [
      ['http_requests_total', 'COUNTER'],
      ['http_request_duration_seconds', 'HISTOGRAM'],
    ],
  );
  const [requests, latency] = families.map((f) => f.metrics);
  assert.equal(requests!.length, 1);
  assert.equal(latency!.length, 1);
  const { buckets, count, sum } = latency![0]!;
  return { requests: BigInt(requests![0]!.value!), buckets: Object.values(buckets!).map(BigInt), les: Object.keys(buckets!), count: BigInt(count!), sum: Number(sum) };
}

describe('examples/http-metrics', function () {
  it(`${TEST_CPUS} CPUs serve 200 requests while /metrics is scraped: each scrape parses and agrees; the last is exact`, async function () {
    this.timeout(60_000);
    const example = await start(TEST_CPUS);
    try {
      const first = await scrape(example.metricsUrl);
      assert.equal(first.requests, 0n);
      assert.deepEqual(first.les, [...LATENCY_BUCKETS_NS.map((ns) => String(ns / 1e9)), '+Inf']);
      assert.deepEqual(first.les.slice(0, 3), ['0.0001', '0.00025', '0.0005']);

      // 8 clients send 200 requests, request i to CPU i % 4; every 25 responses, a scrape while the others run.
      const N = 200;
      let sent = 0;
      let answered = 0;
      const scrapes: { answered: number; sent: number; seen: Awaited<ReturnType<typeof scrape>> }[] = [];
      const client = async () => {
        while (sent < N) {
          const i = sent++;
          const response = await fetch(example.urls[i % TEST_CPUS]!);
          assert.equal(await response.text(), `served by CPU ${i % TEST_CPUS}\n`);
          if (++answered % 25 === 0) {
            const before = { answered, sent };
            scrapes.push({ ...before, seen: await scrape(example.metricsUrl) });
          }
        }
      };
      await Promise.all(Array.from({ length: 8 }, client));
      assert.equal(scrapes.length, N / 25);
      for (const { answered: done, sent: asked, seen } of scrapes) {
        // A request is counted before its response leaves; none is counted before it is sent.
        assert.ok(seen.requests >= BigInt(done) && seen.requests <= BigInt(N), `${seen.requests} counted, ${done} answered, ${asked} sent`);
        assert.ok(seen.count >= BigInt(done) && seen.count <= BigInt(N));
        // Cumulative buckets never decrease, and the +Inf bucket is the count (one read).
        seen.buckets.forEach((b, i) => assert.ok(i === 0 || b >= seen.buckets[i - 1]!));
        assert.equal(seen.buckets.at(-1), seen.count);
      }

      const last = await scrape(example.metricsUrl);
      assert.equal(last.requests, BigInt(N));
      assert.equal(last.count, BigInt(N));
      assert.ok(last.sum > 0);
      // The same metrics on this thread, by name: each CPU served every fourth request.
      const { requests, latency } = httpMetrics();
      assert.deepEqual(requests.values(), [50n, 50n, 50n, 50n]);
      assert.deepEqual(
        latency.snapshots().map((s) => s.count),
        [50n, 50n, 50n, 50n],
      );
      assert.equal(latency.snapshot().sum, latency.snapshots().reduce((total, s) => total + s.sum, 0n));
    } finally {
      await example.stop();
    }
    assert.equal(thisCpu(), null);
  });
});
