/**
 * examples/http-counters: HTTP servers on every CPU count their requests per CPU; the main thread
 * reads the exact total and each CPU's count while the servers still run.
 */
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { thisCpu } from '../lib';
import { start } from '../examples/http-counters/main';
import { TEST_CPUS } from './helpers';

/** GET `url` on a fresh connection; resolves with the body. */
function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => (response.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: HTTP ${response.statusCode}`))));
      })
      .on('error', reject);
  });
}

describe('examples/http-counters', function () {
  it(`${TEST_CPUS} CPUs serve 30 requests: the total is 30 and the per-CPU counts add up to it`, async function () {
    const counters = await start(TEST_CPUS);
    try {
      assert.equal(counters.urls.length, TEST_CPUS);
      assert.equal(new Set(counters.urls).size, TEST_CPUS);
      assert.deepEqual(counters.counts(), { total: 0n, byCpu: [0n, 0n, 0n, 0n] });

      // Request i goes to CPU i % 4, all at once: CPUs 0 and 1 serve 8 each, CPUs 2 and 3 serve 7.
      const N = 30;
      const bodies = await Promise.all(Array.from({ length: N }, (_, i) => get(counters.urls[i % TEST_CPUS]!)));
      bodies.forEach((body, i) => assert.equal(body, `served by CPU ${i % TEST_CPUS}\n`));

      const { total, byCpu } = counters.counts();
      assert.equal(total, BigInt(N));
      assert.deepEqual(byCpu, [8n, 8n, 7n, 7n]);
      assert.equal(byCpu.reduce((a, b) => a + b, 0n), total);

      // More requests, to CPU 3 only, one after another.
      for (let i = 0; i < 5; i++) assert.equal(await get(counters.urls[3]!), 'served by CPU 3\n');
      assert.deepEqual(counters.counts(), { total: 35n, byCpu: [8n, 8n, 7n, 12n] });
    } finally {
      await counters.stop();
    }
    assert.equal(thisCpu(), null);
  });
});
