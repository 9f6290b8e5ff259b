/**
 * A task module that is the program's main module is refused at once, with a message saying why:
 * an ES main module that exports a task and awaits CpuSet work at its top level used to hang
 * forever (CPU 0 imported the module still evaluating), and every worker CPU would run the whole
 * program again; so would a CommonJS one, unless it runs its program only if
 * (require.main === module). The fixtures are programs of their own (test/fixtures/main-module/),
 * run to the end.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const FIXTURES = path.join(__dirname, '..', '..', 'test', 'fixtures', 'main-module');
/** Far above what a run takes: a run that outlives it hung. */
const HANG_MS = 30_000;

function refusal(href: string): string {
  return (
    `PerCpuTypeError: the task module ${href} is the program's main module, an ES module: CPU 0 would import it ` +
    `while it may still be evaluating (a top-level await of CpuSet work would wait for that import, which waits ` +
    `for it: forever), and every worker CPU would import it afresh and run the program again. Put the tasks in a ` +
    `module of their own (for example tasks.js beside it)`
  );
}

function run(file: string): string[] {
  const result = spawnSync(process.execPath, [path.join(FIXTURES, file)], { encoding: 'utf8', timeout: HANG_MS });
  assert.equal(result.signal, null, `${file} hung (killed after ${HANG_MS} ms):\n${result.stdout}${result.stderr}`);
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.trimEnd().split('\n');
}

describe('the main module as a task module: refused, never a hang', function () {
  this.timeout(2 * HANG_MS);

  it('an ES main module awaiting CpuSet work at its top level: task(), tasks(), a query on its URL and a Task made by hand are refused', function () {
    const href = pathToFileURL(path.join(FIXTURES, 'main.mjs')).href;
    assert.deepEqual(run('main.mjs'), [
      `task(import.meta.url): ${refusal(href)}`,
      `tasks(import.meta.url): ${refusal(href)}`,
      `task(a query on import.meta.url): ${refusal(`${href}?again`)}`,
      `onEachCpu(a Task made by hand): ${refusal(href)}`,
    ]);
  });

  for (const [fixture, what] of [
    ['main.cjs', 'naming itself with __filename is refused when nothing keeps its program out of the workers'],
    ['commented.cjs', 'whose only guard is in its comments is refused: a comment is no guard'],
  ] as const) {
    it(`a CommonJS main module ${what}`, function () {
      const href = pathToFileURL(path.join(FIXTURES, fixture)).href;
      assert.deepEqual(run(fixture), [
        `PerCpuTypeError: the task module ${href} is the program's main module, and nothing keeps its program from ` +
          'running when a worker CPU imports it: every worker would run the whole program again. Put the tasks in a ' +
          'module of their own (for example tasks.js beside it), or run the program only if (require.main === module)',
      ]);
    });
  }

  it('a CommonJS main module that runs its program only if (require.main === module) is its own task module', function () {
    assert.deepEqual(run('guarded.cjs'), ['counted 2 on 2 CPUs']);
  });
});
