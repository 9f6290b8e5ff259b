/**
 * What migration and interrupts do to each way of updating a per-CPU counter, measured: four bound
 * threads count while the scheduler swaps their CPUs and/or interrupts them (interrupt handlers add
 * to the same slot), and the updates issued are compared with the sum over CPUs. Exact: a method that
 * must lose nothing finds every update (found == issued); one that must lose finds fewer.
 *
 * Rows for this run's backend run here, on the worker CPUs of a CpuSet that leaves the main thread
 * out; rows for the other backend (the gs loops in the generic run, JS num().add on the other
 * backend) run in a child process that streams them back, so both runs check every row.
 */
import * as assert from 'node:assert/strict';
import { PerCpuRangeError, PerCpuTypeError, region, thisCpu, type BackendName } from '../lib';
import {
  RACE_TABLE_WIDTH,
  formatRaceHeader,
  formatRaceLegend,
  formatRaceRow,
  formatRaceTable,
  raceExpectation,
  raceOk,
  runRace,
  schedulerStats,
  RACE_METHODS,
  type RaceResult,
  type RaceRow,
  type RaceRowSpec,
} from '../lib/sim';
import { checkRaceRow } from '../lib/sim/race';
import { ALL_CPUS, assertRejectsCode, assertThrowsCode, taskOf, withCpuSet } from './helpers';

const SECONDS = 0.3;
/** Each row runs on (after SECONDS) until at least this many swaps and interrupts happened. */
const MIN_MIGRATIONS = 10;
const MIN_INTERRUPTS = 50;

/** The row's outcome, exactly as expected. */
function checkRow(row: RaceRow): void {
  const what = `${row.scenario} / ${row.label}: issued ${row.issued}, found ${row.found}`;
  assert.ok(row.issued > 0, what);
  if (row.expected === 'none lost') {
    assert.equal(row.found, row.issued, what);
    assert.equal(row.lost, 0, what);
  } else {
    assert.ok(row.lost >= 1, `${what}: expected lost updates`);
    assert.ok(row.found < row.issued && row.found > 0, what);
  }
  assert.equal(row.ok, true, what);
  assert.equal(row.enough, true, what);
  if (row.scenario !== 'interrupts') assert.ok(row.migrations >= MIN_MIGRATIONS, `${what}: ${row.migrations} swaps`);
  else assert.equal(row.migrations, 0, what);
  if (row.scenario !== 'migration') assert.ok(row.interrupts >= MIN_INTERRUPTS, `${what}: ${row.interrupts} interrupts`);
  else assert.equal(row.interrupts, 0, what);
}

function checkRun(result: RaceResult, specs: readonly RaceRowSpec[]): Map<string, RaceRow> {
  assert.equal(result.rows.length, specs.length);
  const here = region()!.backend;
  result.rows.forEach((row, i) => {
    const spec = specs[i]!;
    assert.deepEqual([row.scenario, row.method], [spec.scenario, spec.method]);
    assert.equal(row.backend, spec.backend ?? (spec.method === 'gs' ? 'gs' : here));
    assert.equal(row.expected, raceExpectation(spec, row.backend));
    checkRow(row);
  });
  // Every swap was checked in both threads' handlers and in the scheduler; nothing else went wrong.
  assert.equal(result.safety.handlerChecks, 2 * result.safety.tableChecks);
  assert.deepEqual([result.safety.checkFailures, result.safety.violations, result.safety.strays], [0, 0, 0]);
  assert.equal(raceOk(result), true);
  assert.equal(schedulerStats().running, false);
  return new Map(result.rows.map((row) => [`${row.scenario}/${row.method}/${row.backend}`, row]));
}

async function race(rows: RaceRowSpec[]): Promise<Map<string, RaceRow>> {
  return checkRun(await runRace({ rows, seconds: SECONDS, minMigrations: MIN_MIGRATIONS, minInterrupts: MIN_INTERRUPTS }), rows);
}

describe('race: updates issued against updates found, per method', function () {
  this.timeout(60_000);

  it('native loops under migration: gs loses nothing; generic without a guard loses; in a CpuGuard or with irqs off, nothing', async function () {
    const rows = await race([
      { scenario: 'migration', method: 'gs' },
      { scenario: 'migration', method: 'raw' },
      { scenario: 'migration', method: 'guard' },
      { scenario: 'migration', method: 'irqsave' },
    ]);
    assert.deepEqual([...rows.values()].map((r) => r.expected), ['none lost', 'some lost', 'none lost', 'none lost']);
  });

  it('native loops under interrupts on the same thread: gs and irqs-off lose nothing; no guard, or only preemption off, loses', async function () {
    const rows = await race([
      { scenario: 'interrupts', method: 'gs' },
      { scenario: 'interrupts', method: 'raw' },
      { scenario: 'interrupts', method: 'guard' },
      { scenario: 'interrupts', method: 'irqsave' },
    ]);
    assert.deepEqual([...rows.values()].map((r) => r.expected), ['none lost', 'some lost', 'some lost', 'none lost']);
    // The interrupt handlers' adds are updates too: in the gs row every one of them is in the sum.
    assert.ok([...rows.values()].every((r) => r.interrupts >= 1));
  });

  it('native loops under migration and interrupts at once: gs and irqs-off lose nothing', async function () {
    await race([
      { scenario: 'both', method: 'gs' },
      { scenario: 'both', method: 'irqsave' },
    ]);
  });

  it('JS calls under migration: num().add on gs and on generic, and a read-modify-write in a CpuGuard, lose nothing; without the guard, updates are lost', async function () {
    const rows = await race([
      { scenario: 'migration', method: 'js-add', backend: 'gs' },
      { scenario: 'migration', method: 'js-add', backend: 'generic' },
      { scenario: 'migration', method: 'js-rmw' },
      { scenario: 'migration', method: 'js-guard' },
    ]);
    assert.equal(rows.get('migration/js-rmw/' + region()!.backend)!.expected, 'some lost');
  });

  it('JS num().add on gs under interrupts whose handlers add to the same slot: nothing lost', async function () {
    await race([{ scenario: 'interrupts', method: 'js-add', backend: 'gs' }]);
  });

  it('refuses races with no exact outcome, and bad options', async function () {
    assertThrowsCode(
      () => raceExpectation({ scenario: 'interrupts', method: 'js-add' }, 'generic'),
      PerCpuTypeError,
      'ERR_PERCPU_INVALID_ARG',
    );
    assertThrowsCode(() => raceExpectation({ scenario: 'interrupts', method: 'js-rmw' }, 'gs'), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
    assertThrowsCode(() => raceExpectation({ scenario: 'migration', method: 'gs' }, 'generic'), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
    // The backend a row must run on: the one it names, else the one its method needs under its scenario.
    assert.deepEqual(
      [{ scenario: 'migration', method: 'raw' }, { scenario: 'migration', method: 'js-add', backend: 'generic' }, { scenario: 'both', method: 'js-add' }, { scenario: 'interrupts', method: 'gs' }]
        .map((spec) => checkRaceRow(spec as RaceRowSpec)),
      [undefined, 'generic', 'gs', 'gs'],
    );
    assertThrowsCode(() => checkRaceRow({ scenario: 'both', method: 'js-add', backend: 'generic' }), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
    await assert.rejects(runRace({ seconds: 0 }), (e: unknown) => e instanceof PerCpuRangeError);
    await assert.rejects(runRace({ threads: 1 }), (e: unknown) => e instanceof PerCpuRangeError);
    await assert.rejects(runRace({ minMigrations: 1e9 + 1 }), (e: unknown) => e instanceof PerCpuRangeError);
    await assert.rejects(runRace({ threads: 5 }), (e: unknown) => e instanceof PerCpuRangeError); // the region has 4 CPUs
  });

  it('streams: onProgress says each step before it happens, onRow gives each row as it finishes (here first, then the child\'s), by its index', async function () {
    const here = region()!.backend;
    const other: BackendName = here === 'gs' ? 'generic' : 'gs';
    const rows: RaceRowSpec[] = [
      { scenario: 'migration', method: 'raw' },
      { scenario: 'migration', method: 'js-add', backend: 'gs' },
      { scenario: 'migration', method: 'js-add', backend: 'generic' },
    ];
    const log: string[] = [];
    const seen: RaceRow[] = [];
    const result = await runRace({
      rows,
      seconds: SECONDS,
      minMigrations: MIN_MIGRATIONS,
      onProgress: (message) => log.push(message),
      onRow: (row, index, total) => {
        assert.equal(total, 3);
        seen[index] = row;
        log.push(`row ${index}`);
      },
    });
    checkRun(result, rows);
    assert.deepEqual(seen, result.rows);
    const hereIndex = here === 'gs' ? 1 : 2, childIndex = 3 - hereIndex;
    assert.deepEqual(log, [
      `starting 4 worker CPUs (${here} backend) for 2 rows`,
      'row 1/3: migration raw',
      'row 0',
      `row ${hereIndex + 1}/3: migration js-add ${here}`,
      `row ${hereIndex}`,
      `1 row on the ${other} backend: running in a child process`,
      `row ${childIndex + 1}/3: migration js-add ${other}`,
      `row ${childIndex}`,
    ]);
  });

  it('a callback that throws ends the race with what it threw, here and for a child\'s row; the CPUs are given back', async function () {
    const here = region()!.backend;
    const thrown = new Error('enough');
    const rows: RaceRowSpec[] = [
      { scenario: 'migration', method: 'raw' },
      { scenario: 'migration', method: 'js-add', backend: here === 'gs' ? 'generic' : 'gs' },
    ];
    for (const [which, throwAt] of [['onRow', 0], ['onRow', 1], ['onProgress', 0]] as const) {
      let calls = 0;
      const fail = (index: number) => {
        calls++;
        if (index === throwAt) throw thrown;
      };
      const options = which === 'onRow' ? { onRow: (_row: RaceRow, index: number) => fail(index) } : { onProgress: () => fail(0) };
      await assert.rejects(runRace({ rows, seconds: SECONDS, ...options }), (error) => error === thrown);
      assert.equal(calls, which === 'onRow' ? throwAt + 1 : 1);
      assert.equal(schedulerStats().running, false);
      assert.equal(thisCpu(), null);
    }
    await withCpuSet(4, async (set) => assert.deepEqual(await set.onEachCpu(taskOf('whoAmI')), ALL_CPUS));
  });

  it('refuses callbacks that are not functions, and rows for another backend than their method needs, before anything starts', async function () {
    for (const bad of [1, 'row', {}, null]) {
      await assertRejectsCode(() => runRace({ onRow: bad as never }), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
      await assertRejectsCode(() => runRace({ onProgress: bad as never }), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
    }
    // The gs method on another backend is refused here, not in the child process that would run it.
    await assertRejectsCode(() => runRace({ rows: [{ scenario: 'migration', method: 'gs', backend: 'generic' }] }), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
    // Rows as text (`percpu race --rows`): parseRows, in cli.test.ts.
  });

  it('the table fits 100 columns: the header, rows with the largest counts, the legend', function () {
    const header = formatRaceHeader();
    assert.equal(header, 'scenario   method              issued       found      lost swaps skipped   irqs  expected   result');
    assert.equal(RACE_TABLE_WIDTH, 100);
    const row: RaceRow = {
      scenario: 'interrupts', method: 'js-add', backend: 'generic', label: '', issued: 12345678901, found: 12345678900, lost: 1,
      migrations: 12345, skipped: 1234567, interrupts: 123456, seconds: 1, expected: 'some lost', enough: true, ok: true,
    };
    assert.equal(formatRaceRow(row), 'interrupts js-add generic 12345678901 12345678900         1 12345 1234567 123456  some lost  ok');
    const huge = { ...row, issued: 2 ** 52, found: 2 ** 51, lost: 2 ** 51, migrations: 1e9, skipped: 1e12, interrupts: 1e15, ok: false, enough: false };
    assert.equal(formatRaceRow(huge), 'interrupts js-add generic 4503599627M 2251799814M  2251800G 1000M   1000G  1000T  some lost  TOO FEW');
    assert.equal(formatRaceRow({ ...row, scenario: 'migration', method: 'gs', backend: 'gs', ok: false }), 'migration  gs             12345678901 12345678900         1 12345 1234567 123456  some lost  FAILED');
    const legend = formatRaceLegend(RACE_METHODS.map((method) => ({ method })));
    assert.equal(legend.split('\n').length, 3 + RACE_METHODS.length);
    const table = formatRaceTable({ rows: [row, huge] } as unknown as RaceResult);
    for (const line of [header, formatRaceRow(huge), ...legend.split('\n'), ...table.split('\n')]) {
      assert.ok(line.length <= 100, `${line.length} columns: ${line}`);
    }
  });

  // `npx percpu race`, the whole default race as text: cli.test.ts.
});
