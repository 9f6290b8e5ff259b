/**
 * The `percpu` command's manners: --help and --version, usage errors (exit status 2, one line on
 * stderr, nothing on stdout), `race --json` parsed and exact, the race streaming its rows as they
 * finish with progress on stderr, every line of `race` within 100 columns, a closed stdout, `bench`,
 * and docs/cli.md holding every --help text. `sample` itself: sample.test.ts.
 *
 * The command runs as users run it (bin/percpu.js in a child process), and, where what is checked is
 * the order of events or many refusals, as main() in this process with its output captured.
 */
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeBackend, region } from '../lib';
import { DEFAULT_RACE_ROWS, formatRaceHeader, formatRaceRow, schedulerStats, type RaceResult, type RaceRow } from '../lib/sim';
import { UsageError, formatHelp } from '../lib/cli/args';
import { globalHelp, main } from '../lib/cli/cli';
import { parseRows, raceCommand } from '../lib/cli/race-command';
import { sampleCommand } from '../lib/cli/sample-command';
import { COLUMNS, HELP_COLUMNS, unfold } from '../lib/cli/text';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'percpu.js');
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** bin/percpu.js in a child process. */
function percpu(args: readonly string[], env: NodeJS.ProcessEnv = process.env) {
  const run = spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(run.error, undefined);
  assert.equal(run.signal, null, `percpu ${args.join(' ')} was killed`);
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** main() in this process; `each` runs at every line printed, as it is printed. */
async function inProcess(args: readonly string[], each: (stream: 'out' | 'err', line: string) => void = () => undefined) {
  const out: string[] = [];
  const err: string[] = [];
  const status = await main(args, {
    out: (text) => text.split('\n').forEach((line) => (each('out', line), out.push(line))),
    err: (text) => text.split('\n').forEach((line) => (each('err', line), err.push(line))),
  });
  return { status, out, err };
}

const tooWide = (text: string, columns: number) => text.split('\n').filter((line) => line.length > columns);

/** A row of `percpu race`'s table: scenario, method (and backend, for js-add), issued, found, lost, swaps, skipped, irqs, expected, result. */
const ROW_LINE = /^(migration|interrupts|both) +(\S+(?: gs| generic)?) +(\d+) +(\d+) +(-?\d+) +(\d+) +(\d+) +(\d+) {2}(none lost|some lost) {2}(ok|FAILED|TOO FEW)$/;

/**
 * A line of the table read back into the RaceRow fields it shows (the backend, where the line does
 * not show it, is `backend`), and checked to be formatRaceRow() of them: the command prints each
 * row through formatRaceRow.
 */
function readRow(line: string, backend: string): RaceRow {
  const match = ROW_LINE.exec(line);
  assert.ok(match !== null, `not a row of the table: ${line}`);
  const [, scenario, column, issued, found, lost, swaps, skipped, irqs, expected, result] = match;
  const [method, shown] = column!.split(' ');
  const row = {
    scenario, method, backend: shown ?? backend, label: '', issued: Number(issued), found: Number(found), lost: Number(lost),
    migrations: Number(swaps), skipped: Number(skipped), interrupts: Number(irqs), seconds: 0, expected, enough: result !== 'TOO FEW', ok: result === 'ok',
  } as RaceRow;
  assert.equal(formatRaceRow(row), line);
  return row;
}

describe('percpu --help, --version and help', function () {
  const COMMANDS = [sampleCommand, raceCommand];

  it('percpu --help, -h and `help` print the commands, options and exit statuses on stdout, exit 0', async function () {
    assert.deepEqual(percpu(['--help']), { status: 0, stdout: `${globalHelp()}\n`, stderr: '' });
    for (const args of [['-h'], ['help']]) assert.deepEqual(await inProcess(args), { status: 0, out: globalHelp().split('\n'), err: [] });
    assert.match(globalHelp(), /^ {2}sample {2}run the Rust percpu sample module's checks/m);
    assert.match(globalHelp(), /^ {2}race {4}count the per-CPU updates lost/m);
    assert.match(globalHelp(), /^ {2}bench {3}how to run the benchmarks/m);
    assert.match(globalHelp(), /^exit status: 0 ok; 1 a check failed/m);
  });

  it('percpu <command> --help, -h and `help <command>` print its usage, options and exit statuses, exit 0', async function () {
    for (const name of ['sample', 'race', 'bench']) {
      const run = percpu([name, '--help']);
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stderr, '');
      assert.match(run.stdout, new RegExp(`^usage: percpu ${name}\\b`));
      assert.match(run.stdout, /\noptions:\n/);
      assert.match(run.stdout, /\n {2}-h, --help +print this text and exit\n/);
      assert.match(run.stdout, /\nexit status: .*\n$/s);
      for (const args of [[name, '-h'], ['help', name], [name, '--json', '--help']]) {
        if (name === 'bench' && args.includes('--json')) continue;
        assert.deepEqual(await inProcess(args), { status: 0, out: run.stdout.trimEnd().split('\n'), err: [] }, args.join(' '));
      }
    }
  });

  it('every option a command reads is in its help; every help line fits 80 columns', function () {
    for (const command of COMMANDS) {
      const help = formatHelp(command);
      for (const option of command.options) assert.match(help, new RegExp(`\\n {2}(-\\w, )?--${option.name}\\b`), `${command.name} --${option.name}`);
      assert.deepEqual(tooWide(help, HELP_COLUMNS), [], command.name);
    }
    assert.deepEqual(tooWide(globalHelp(), HELP_COLUMNS), []);
    assert.match(formatHelp(raceCommand), /\n {2}migration {3}gs raw guard irqsave js-add js-rmw js-guard\n {2}interrupts {2}gs raw guard irqsave js-add\n {2}both {8}gs raw guard irqsave js-add\n/);
  });

  it('percpu --version and -v print the package\'s version, exit 0', async function () {
    assert.deepEqual(percpu(['--version']), { status: 0, stdout: `${VERSION}\n`, stderr: '' });
    assert.deepEqual(await inProcess(['-v']), { status: 0, out: [VERSION], err: [] });
  });

  it('docs/cli.md holds every --help text as the command prints it', function () {
    const doc = fs.readFileSync(path.join(ROOT, 'docs', 'cli.md'), 'utf8');
    assert.ok(doc.includes(`\`\`\`text\n$ npx percpu --help\n${globalHelp()}\n\`\`\`\n`), 'percpu --help');
    for (const name of ['sample', 'race', 'bench']) {
      const help = percpu([name, '--help']).stdout;
      assert.ok(doc.includes(`\`\`\`text\n$ npx percpu ${name} --help\n${help}\`\`\`\n`), `percpu ${name} --help`);
    }
  });
});

describe('percpu: usage errors exit 2 with one line on stderr, nothing on stdout', function () {
  const commands = 'sample, race, bench';
  const sample = (what: string) => `percpu sample: ${what}; see 'percpu sample --help'`;
  const race = (what: string) => `percpu race: ${what}; see 'percpu race --help'`;
  const methods = 'methods: gs, raw, guard, irqsave, js-add, js-rmw, js-guard';
  const ERRORS: [args: string[], line: string][] = [
    [[], `percpu: no command given (${commands}); see 'percpu --help'`],
    [['foo'], `percpu: unknown command 'foo' (${commands}); see 'percpu --help'`],
    [['constructor'], `percpu: unknown command 'constructor' (${commands}); see 'percpu --help'`],
    [['--foo', 'sample'], "percpu: unknown option '--foo'; see 'percpu --help'"],
    [['--help=yes'], "percpu: --help takes no value; see 'percpu --help'"],
    [['help', 'foo'], `percpu: help takes one command (${commands}), not 'foo'; see 'percpu --help'`],
    [['help', 'sample', 'race'], `percpu: help takes one command (${commands}), not 'sample race'; see 'percpu --help'`],
    [['sample', '--foo'], sample("unknown option '--foo'")],
    [['sample', '-x'], sample("unknown option '-x'")],
    [['sample', '--rows', 'migration:raw'], sample("unknown option '--rows'")],
    [['sample', '--__proto__'], sample("unknown option '--__proto__'")],
    [['sample', '--cpus'], sample('--cpus needs a value: --cpus N')],
    [['sample', '--json=yes'], sample('--json takes no value')],
    [['sample', 'extra'], sample("unexpected argument 'extra'")],
    [['sample', '--', '--json'], sample("unexpected argument '--json'")],
    ...['0', '1025', 'x', '-1', '1.5', '', ' 2', '0x10', '1e3', '99999999999999999999'].map(
      (cpus): [string[], string] => [['sample', '--cpus', cpus], sample(`--cpus takes a whole number from 1 to 1024, not '${cpus}'`)],
    ),
    [['sample', '--cpus=0'], sample("--cpus takes a whole number from 1 to 1024, not '0'")],
    [['sample', '--backend', 'fast'], sample("--backend takes auto, gs or generic, not 'fast'")],
    [['sample', '--backend', ''], sample("--backend takes auto, gs or generic, not ''")],
    [['race', '--rows', 'bogus'], race("--rows: 'bogus' is not a row (scenario:method[:gs|generic], e.g. migration:raw)")],
    [['race', '--rows', ''], race("--rows: '' is not a row (scenario:method[:gs|generic], e.g. migration:raw)")],
    [['race', '--rows', 'migration:raw,'], race("--rows: '' is not a row (scenario:method[:gs|generic], e.g. migration:raw)")],
    [['race', '--rows', 'migration:raw:gs:x'], race("--rows: 'migration:raw:gs:x' is not a row (scenario:method[:gs|generic], e.g. migration:raw)")],
    ...['bogus', 'constructor', 'toString', '__proto__', ''].map(
      (method): [string[], string] => [['race', '--rows', `migration:${method}`], race(`--rows: no method '${method}' (row 'migration:${method}'); ${methods}`)],
    ),
    [['race', '--rows', 'hasOwnProperty:raw'], race("--rows: no scenario 'hasOwnProperty' (row 'hasOwnProperty:raw'); scenarios: migration, interrupts, both")],
    [['race', '--rows', 'both:raw:x'], race("--rows: no backend 'x' (row 'both:raw:x'); backends: gs, generic")],
    [['race', '--rows', 'migration:raw:other'], race("--rows: no backend 'other' (row 'migration:raw:other'); backends: gs, generic")],
    [['race', '--rows', 'interrupts:js-rmw'], race("--rows: 'interrupts:js-rmw' has no exact outcome; under interrupts: gs, raw, guard, irqsave, js-add")],
    [['race', '--rows', 'both:js-guard'], race("--rows: 'both:js-guard' has no exact outcome; under both: gs, raw, guard, irqsave, js-add")],
    [['race', '--rows', 'interrupts:js-add:generic'], race("--rows: 'interrupts:js-add:generic' has no exact outcome; under interrupts on generic: raw, guard, irqsave")],
    [['race', '--rows', 'migration:gs:generic'], race("--rows: 'migration:gs:generic' has no exact outcome; under migration on generic: raw, guard, irqsave, js-add, js-rmw, js-guard")],
    [['race', '--rows', 'migration:raw,bogus'], race("--rows: 'bogus' is not a row (scenario:method[:gs|generic], e.g. migration:raw)")],
    [['race', '--rows', 'both:js-add:generic'], race("--rows: 'both:js-add:generic' has no exact outcome; under both on generic: raw, guard, irqsave")],
    [['race', '--seconds', '0'], race("--seconds takes a number above 0 and at most 600, not '0'")],
    [['race', '--seconds', 'abc'], race("--seconds takes a number above 0 and at most 600, not 'abc'")],
    [['race', '--seconds', '601'], race("--seconds takes a number above 0 and at most 600, not '601'")],
    [['race', '--seconds', 'Infinity'], race("--seconds takes a number above 0 and at most 600, not 'Infinity'")],
    [['race', '--rate', '0'], race("--rate takes a number above 0 and at most 100000, not '0'")],
    [['race', '--irq-rate', '1e3'], race("--irq-rate takes a number above 0 and at most 100000, not '1e3'")],
    [['race', '--threads', '1'], race("--threads takes a whole number from 2 to 1024, not '1'")],
    [['race', '--threads', '2.5'], race("--threads takes a whole number from 2 to 1024, not '2.5'")],
    [['race', '--window', '-1'], race("--window takes a whole number from 0 to 10000000, not '-1'")],
    [['race', '--window', '10000001'], race("--window takes a whole number from 0 to 10000000, not '10000001'")],
    [['race', '--min-migrations', 'x'], race("--min-migrations takes a whole number from 0 to 1000000000, not 'x'")],
    [['race', '--min-interrupts', '-2'], race("--min-interrupts takes a whole number from 0 to 1000000000, not '-2'")],
    [['race', '--max-seconds', '0.1'], race('--max-seconds (0.1) must be at least --seconds (0.5)')],
    [['race', '--seconds', '100'], race('--max-seconds (60) must be at least --seconds (100)')],
    [['race', '--json=1'], race('--json takes no value')],
    [['race', '--backend', 'GS'], race("--backend takes auto, gs or generic, not 'GS'")],
    [['bench', '--quick'], "percpu bench: unknown option '--quick'; see 'percpu bench --help'"],
  ];

  it(`each of ${ERRORS.length} mistakes names itself and --help, and changes nothing`, async function () {
    const before = { region: region(), scheduler: schedulerStats() };
    for (const [args, line] of ERRORS) {
      assert.deepEqual(await inProcess(args), { status: 2, out: [], err: [line] }, `percpu ${args.join(' ')}`);
    }
    assert.deepEqual({ region: region(), scheduler: schedulerStats() }, before);
  });

  it('--rows is read by parseRows: scenario:method[:gs|generic] items; not a row, a UsageError', function () {
    assert.deepEqual(parseRows('migration:raw,interrupts:js-add:gs'), [
      { scenario: 'migration', method: 'raw' },
      { scenario: 'interrupts', method: 'js-add', backend: 'gs' },
    ]);
    for (const text of ['bogus', 'migration:', 'migration:raw:gs:x', 'migration:raw:other', '']) {
      assert.throws(() => parseRows(text), UsageError, text);
    }
  });

  it('through bin/percpu.js: exit status 2, the same line, nothing on stdout, no stack', function () {
    const some = ERRORS.filter(([args]) => args.length <= 1 || (args[1] === '--rows' && /bogus|constructor|js-rmw/.test(args[2]!)));
    assert.equal(some.length, 9);
    for (const [args, line] of some) {
      assert.deepEqual(percpu(args), { status: 2, stdout: '', stderr: `${line}\n` }, `percpu ${args.join(' ')}`);
    }
  });

  it('a bad PERCPU_BACKEND is a usage error too (a --backend given wins over it)', function () {
    const env = { ...process.env, PERCPU_BACKEND: 'bogus' };
    assert.deepEqual(percpu(['sample'], env), { status: 2, stdout: '', stderr: `${sample("PERCPU_BACKEND takes auto, gs or generic, not 'bogus'")}\n` });
    assert.deepEqual(percpu(['race', '--json'], env), { status: 2, stdout: '', stderr: `${race("PERCPU_BACKEND takes auto, gs or generic, not 'bogus'")}\n` });
    const run = percpu(['sample', '--cpus', '1', '--backend', 'generic', '--json'], env);
    assert.equal(run.status, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as { backendReason: string }).backendReason, "requested by setup({ backend: 'generic' })");
  });

  it('percpu bench says in one line how to run the benchmarks, and exits 2', function () {
    assert.deepEqual(percpu(['bench']), {
      status: 2,
      stdout: '',
      stderr: 'percpu bench: the benchmarks are not in the npm package; in a clone of the repository: npm run bench\n',
    });
  });
});

describe('percpu race', function () {
  this.timeout(120_000);

  it('--json: one JSON document on stdout, the options as given, every row exact, rows for the other backend from a child', function () {
    // migration:js-add:generic runs in a generic child in the gs run, interrupts:js-add in a gs child in the generic run.
    const rows = 'migration:irqsave,interrupts:irqsave,migration:js-add:generic,interrupts:js-add';
    const run = percpu(['race', '--json', '--rows', rows, '--seconds', '0.05', '--threads', '3', '--rate', '2000', '--irq-rate', '500',
      '--window', '500', '--min-migrations', '2', '--min-interrupts', '3', '--max-seconds', '30']);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.split('\n').length, 2, 'one line and its newline');
    assert.deepEqual(tooWide(run.stderr, COLUMNS), []);
    const result = JSON.parse(run.stdout) as RaceResult;
    const here = region()!.backend;
    assert.deepEqual({ ...result, rows: [], safety: null }, {
      threads: 3,
      seconds: 0.05,
      minMigrations: 2,
      minInterrupts: 3,
      maxSeconds: 30,
      migrateHz: 2000,
      irqHz: 500,
      windowNs: 500,
      backend: describeBackend(region()!), // the child inherits this run's PERCPU_BACKEND
      rows: [],
      safety: null,
    });
    const expected = [
      { scenario: 'migration', method: 'irqsave', backend: here, label: 'native generic, irqs off (local_irq_save)' },
      { scenario: 'interrupts', method: 'irqsave', backend: here, label: 'native generic, irqs off (local_irq_save)' },
      { scenario: 'migration', method: 'js-add', backend: 'generic', label: 'JS num().add(1n) (generic)' },
      { scenario: 'interrupts', method: 'js-add', backend: 'gs', label: 'JS num().add(1n) (gs)' },
    ];
    assert.deepEqual(result.rows.map((r) => ({ scenario: r.scenario, method: r.method, backend: r.backend, label: r.label })), expected);
    for (const row of result.rows) {
      assert.deepEqual([row.expected, row.ok, row.enough, row.lost, row.found], ['none lost', true, true, 0, row.issued], row.label);
      assert.ok(row.issued > 0 && row.seconds > 0 && row.skipped >= 0, row.label);
      if (row.scenario === 'migration') assert.ok(row.migrations >= 2 && row.interrupts === 0, row.label);
      else assert.ok(row.interrupts >= 3 && row.migrations === 0, row.label);
    }
    const swaps = result.rows.reduce((n, r) => n + r.migrations, 0);
    // Each swap is checked by both threads' handlers and once over the whole table.
    assert.deepEqual(result.safety, { handlerChecks: 2 * swaps, tableChecks: swaps, checkFailures: 0, violations: 0, strays: 0 });
  });

  it('prints each row as it finishes, progress on stderr before it (in this process: the scheduler counts swaps as lines print)', async function () {
    const rows = ['migration:guard', 'migration:irqsave', 'migration:js-add'];
    const swapsWhenPrinted: number[] = [];
    const events: string[] = [];
    let progressBeforeFirstRow = false;
    const start = schedulerStats().migrations;
    const run = await inProcess(['race', '--rows', rows.join(','), '--seconds', '0.05'], (stream, line) => {
      const swaps = schedulerStats().migrations - start;
      events.push(`${stream} ${line}`);
      if (stream === 'out') swapsWhenPrinted.push(swaps);
      else if (swaps === 0) progressBeforeFirstRow = true;
    });
    assert.equal(run.status, 0, [...run.out, ...run.err].join('\n'));
    assert.deepEqual([...run.out, ...run.err].filter((line) => line.length > COLUMNS), []);
    // Every row makes at least one swap (--min-migrations 1) before it ends: printed as they end,
    // the lines see the count rise once per row, from 0 before the first.
    assert.deepEqual(swapsWhenPrinted, [...swapsWhenPrinted].sort((a, b) => a - b));
    assert.equal(new Set(swapsWhenPrinted).size, rows.length + 1, swapsWhenPrinted.join(' '));
    assert.equal(swapsWhenPrinted[0], 0);
    assert.ok(progressBeforeFirstRow, 'no progress on stderr before the first row finished');
    assert.ok(run.out.includes(`${rows.length} rows as expected, 0 not.`), run.out.join('\n'));
    // The introduction, then formatRaceHeader(), then formatRaceRow(row) for each row, in order;
    // runRace's progress for each row (its index of the total) comes before the row's line.
    const here = region()!.backend;
    assert.deepEqual(run.out.slice(3, 5), ['', formatRaceHeader()]);
    const printed = run.out.slice(5, 5 + rows.length).map((line) => readRow(line, here));
    assert.deepEqual(printed.map((r) => `${r.scenario}:${r.method}`), rows);
    assert.equal(run.out[5 + rows.length], '');
    const progress = rows.map((row, i) => `err row ${i + 1}/${rows.length}: ${row.replace(':', ' ')}${row.endsWith('js-add') ? ` ${here}` : ''}`);
    assert.deepEqual(
      events.filter((event) => /^err row \d/.test(event) || ROW_LINE.test(event.slice(4))),
      rows.flatMap((_, i) => [progress[i], `out ${run.out[5 + i]}`]),
    );
  });

  it('the whole race, as text: every line within 100 columns, a row per race as formatRaceRow prints it, every row as expected, exit 0', function () {
    // PERCPU_BACKEND as this run has it: the rows for the other backend run in a child, so both runs print every row.
    const run = percpu(['race', '--seconds', '0.25', '--min-migrations', '10', '--min-interrupts', '50']);
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.deepEqual(tooWide(run.stdout, COLUMNS), []);
    assert.deepEqual(tooWide(run.stderr, COLUMNS), []);
    const [intro, table, summary] = run.stdout.trimEnd().split('\n\n').map((block) => unfold(block).split('\n'));
    assert.deepEqual(intro, [
      'percpu race: 4 bound threads, 0.25 s per row (on until 10+ swaps / 50+ interrupts, 60 s at most)',
      `this process: ${describeBackend(region()!)}`,
      'migration: swaps attempted at 1000 Hz; interrupts: 1000 Hz per thread; generic window 1000 ns',
    ]);
    assert.equal(table![0], formatRaceHeader());
    const lines = table!.slice(1);
    assert.equal(DEFAULT_RACE_ROWS.length, 15);
    assert.equal(lines.length, DEFAULT_RACE_ROWS.length, run.stdout);
    assert.equal(lines.filter((line) => ROW_LINE.test(line)).length, 15, run.stdout);
    for (const line of lines) {
      assert.ok(line.length <= 100, line);
      const row = readRow(line, region()!.backend);
      assert.equal(row.ok, true, line);
      assert.equal(row.issued - row.found, row.lost, line);
      assert.equal(row.expected === 'none lost', row.lost === 0, line);
    }
    assert.equal(summary![0], `${DEFAULT_RACE_ROWS.length} rows as expected, 0 not.`);
    assert.match(summary![1]!, /^swaps made: \d+ per second on average over the rows that migrate\.$/);
    assert.match(summary![2]!, /^scheduler checks: \d+ in the handlers after swaps \(.*\), \d+ of the whole table; 0 failed, 0 violations, 0 signals on threads not taking part\.$/);
    assert.equal(summary![3], 'JS num().add() on generic is not raced against interrupts: the addon holds preemption off around it, not interrupts.');
    assert.equal(summary!.length, 4);
  });
});

describe('percpu: a reader that goes away', function () {
  for (const args of [['sample', '--cpus', '2'], ['race', '--rows', 'migration:irqsave', '--seconds', '0.05']]) {
    it(`percpu ${args[0]} with its stdout closed before it writes: exits 0, quietly`, async function () {
      const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.destroy(); // the read end closes before the child has loaded
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
      assert.deepEqual({ code, signal }, { code: 0, signal: null });
      assert.doesNotMatch(stderr, /EPIPE|Error|\n +at /); // progress may come before the exit; no error does
    });
  }
});
