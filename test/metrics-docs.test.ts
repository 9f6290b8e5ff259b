/**
 * docs/metrics.md shows code and output that must stay true: every code block that names an
 * example file is that file's lines, in order; and the /metrics output it shows is what the
 * example prints after 100 requests, run as a user runs it (its own process).
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { checkExcerpt, fencedBlocks, linesOf } from './markdown';

const ROOT = path.join(__dirname, '..', '..');
const DOC = fs.readFileSync(path.join(ROOT, 'docs', 'metrics.md'), 'utf8');

const BLOCKS = fencedBlocks('docs/metrics.md', DOC);

describe('docs/metrics.md', function () {
  it('each code block naming an example file is that file, line for line, in order', function () {
    const quoted = BLOCKS.filter((b) => b.language === 'ts' && /^\/\/ examples\//.test(b.text));
    assert.deepEqual(
      quoted.map((b) => linesOf(b)[0]),
      ['// examples/http-metrics/metrics.ts', '// examples/http-metrics/server.ts', '// examples/http-metrics/main.ts'],
    );
    for (const block of quoted) checkExcerpt(block);
  });

  it("the /metrics output shown is the example's after 100 requests (run in its own process)", async function () {
    this.timeout(60_000);
    const shown = linesOf(BLOCKS.find((b) => b.language === 'text' && linesOf(b)[0] === '# HELP http_requests_total HTTP requests served')!);
    const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'examples', 'http-metrics', 'main.js'), '4'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    let scraped: string[];
    try {
      const out = readline.createInterface({ input: child.stdout });
      const urls: string[] = [];
      let metricsUrl = '';
      for await (const line of out) {
        if (line.startsWith('metrics: ')) {
          metricsUrl = line.slice('metrics: '.length);
          break;
        }
        urls.push(line);
      }
      assert.equal(urls.length, 4);
      for (let i = 0; i < 100; i++) assert.equal(await (await fetch(urls[i % 4]!)).text(), `served by CPU ${i % 4}\n`);
      scraped = (await (await fetch(metricsUrl)).text()).split('\n');
    } finally {
      child.kill('SIGINT'); // the example stops its servers and its CpuSet, then exits
    }
    assert.equal(await exited, 0);
    const timed = (line: string) => /^http_request_duration_seconds_(sum|bucket\{le="0\.0[^"]*"\}) /.test(line);
    for (const line of shown) {
      if (line === '...') continue;
      // Lines whose value is a latency depend on timing: their name and labels must be there.
      if (timed(line)) assert.ok(scraped.some((s) => s.startsWith(line.slice(0, line.lastIndexOf(' ') + 1))), line);
      else assert.ok(scraped.includes(line), `the scrape has no line: ${line}`);
    }
  });
});
