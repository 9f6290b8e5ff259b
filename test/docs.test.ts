/**
 * The code in README.md and docs/*.md that claims to run, run: every fenced js/ts/sh block is part
 * of an example (its info string says `example=NAME`), an excerpt of a file of examples/ (its first
 * line names it, `// examples/...`, and every other line is that file's, in order; the example's own
 * test runs it), or marked `fragment` (a piece of an API, not a program). An example's blocks are the files of a project (`file=PATH`), the commands that
 * run it (`run`: shell lines, run in order) and what they print (`output`: compared line by line,
 * exactly). Each example runs in an empty folder where `percpu` is this package (as installed), its
 * TypeScript files are type-checked with tsc first, and `tsx` is on the PATH.
 *
 *   ```js example=hello file=main.mjs        a file of example "hello"
 *   ```sh example=hello run                  commands
 *   ```text example=hello output             their expected stdout
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkExcerpt, excerptOf, fencedBlocks, type Block } from './markdown';

const ROOT = path.join(__dirname, '..', '..');
const CODE = new Set(['js', 'mjs', 'cjs', 'ts', 'mts', 'cts', 'javascript', 'typescript', 'sh', 'bash', 'shell']);

export interface Example {
  doc: string;
  name: string;
  files: Map<string, string>;
  steps: { commands: string; output: string | null; line: number }[];
}

/** The examples of a document, by name, in the order their blocks come. */
export function examplesOf(blocks: Block[]): Example[] {
  const examples = new Map<string, Example>();
  for (const block of blocks) {
    const name = block.tokens.get('example');
    if (typeof name !== 'string') continue;
    let example = examples.get(name);
    if (example === undefined) examples.set(name, (example = { doc: block.doc, name, files: new Map(), steps: [] }));
    const file = block.tokens.get('file');
    if (typeof file === 'string') example.files.set(file, (example.files.get(file) ?? '') + block.text);
    else if (block.tokens.has('run')) example.steps.push({ commands: block.text, output: null, line: block.line });
    else if (block.tokens.has('output')) {
      const last = example.steps.at(-1);
      assert.ok(last !== undefined && last.output === null, `${block.doc}:${block.line}: an output block must follow a run block`);
      last.output = block.text;
    } else assert.fail(`${block.doc}:${block.line}: an example block needs file=, run or output`);
  }
  return [...examples.values()];
}

/** README.md and every docs/*.md (not the generated API docs). */
function documents(): string[] {
  const docs = fs.existsSync(path.join(ROOT, 'docs'))
    ? fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)
    : [];
  return ['README.md', ...docs.sort()];
}

const normalize = (text: string) =>
  text
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')
    .trim();

/** Runs one example in an empty project where `percpu` is this package. */
function runExample(example: Example): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `percpu-doc-${example.name}-`));
  try {
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'percpu'));
    if (!example.files.has('package.json')) {
      fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `doc-${example.name}`, private: true }));
    }
    for (const [file, text] of example.files) {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), text);
    }
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${path.join(ROOT, 'node_modules', '.bin')}:${process.env['PATH']}` };
    delete env['PERCPU_BACKEND']; // the example chooses, as a user's program does
    const typescript = [...example.files.keys()].filter((f) => /\.(ts|mts|cts)$/.test(f));
    if (typescript.length > 0) {
      if (!example.files.has('tsconfig.json')) {
        fs.writeFileSync(
          path.join(dir, 'tsconfig.json'),
          JSON.stringify({
            compilerOptions: {
              target: 'ES2022',
              lib: ['ES2022', 'ESNext.Disposable'],
              module: 'nodenext',
              moduleResolution: 'nodenext',
              strict: true,
              noEmit: true,
              skipLibCheck: true,
              types: ['node'],
              typeRoots: [path.join(ROOT, 'node_modules', '@types')],
            },
            include: typescript,
          }),
        );
      }
      const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { cwd: dir, env, encoding: 'utf8' });
      assert.equal(tsc.status, 0, `${example.doc} example ${example.name}: tsc found errors:\n${tsc.stdout}${tsc.stderr}`);
    }
    for (const step of example.steps) {
      const run = spawnSync('sh', ['-e', '-c', step.commands], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
      assert.equal(run.status, 0, `${example.doc}:${step.line} (example ${example.name}) exited with ${run.status ?? run.signal}:\n${run.stdout}\n${run.stderr}`);
      if (step.output !== null) assert.equal(normalize(run.stdout), normalize(step.output), `${example.doc}:${step.line} (example ${example.name}) printed otherwise`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('the documentation: code that claims to run, runs', function () {
  this.timeout(120_000);

  it('reads info strings: examples, files, runs and outputs', function () {
    const blocks = fencedBlocks('t.md', '```js example=a file=m.mjs\nx\n```\ntext\n```sh example=a run\nnode m.mjs\n```\n```text example=a output\nok\n```\n```ts fragment\ny\n```\n');
    assert.deepEqual(blocks.map((b) => [b.language, [...b.tokens.keys()]]), [['js', ['example', 'file']], ['sh', ['example', 'run']], ['text', ['example', 'output']], ['ts', ['fragment']]]);
    const [example] = examplesOf(blocks);
    assert.deepEqual([...example!.files], [['m.mjs', 'x\n']]);
    assert.deepEqual(example!.steps.map((s) => [s.commands, s.output]), [['node m.mjs\n', 'ok\n']]);
  });

  for (const doc of documents()) {
    const blocks = fencedBlocks(doc, fs.readFileSync(path.join(ROOT, doc), 'utf8'));

    it(`${doc}: every js/ts/sh block is part of a runnable example, an excerpt of examples/, or marked a fragment`, function () {
      const unmarked = blocks.filter((b) => CODE.has(b.language) && !b.tokens.has('example') && !b.tokens.has('fragment') && excerptOf(b) === null);
      assert.deepEqual(unmarked.map((b) => `${doc}:${b.line}`), []);
      for (const block of blocks.filter((b) => CODE.has(b.language) && excerptOf(b) !== null)) checkExcerpt(block);
    });

    for (const example of examplesOf(blocks)) {
      it(`${doc}: example ${example.name} (${[...example.files.keys()].join(', ')}) runs as written`, function () {
        assert.ok(example.steps.length > 0, `example ${example.name} has no run block`);
        runExample(example);
      });
    }
  }
});
