/**
 * What migration and interrupts do to each way of updating a per-CPU counter, measured: four bound
 * threads count while the scheduler swaps their CPUs and/or interrupts them (interrupt handlers add
 * to the same slot), and the updates issued are compared with the sum over CPUs. Exact: a method that
 * must lose nothing finds every update (found == issued); one that must lose finds fewer.
 *
 * Rows for this run's backend run here, on worker threads of this process; rows for the other
 * backend (the gs loops in the generic run, JS num().add on the other backend) run in a child
 * process (`percpu race --json`), so both runs check every row.
 */
import * as assert from 'node:assert/strict';
import { PerCpuRangeError, PerCpuTypeError, region } from '../lib';
import { raceExpectation, raceOk, runRace, schedulerStats, type RaceResult, type RaceRow, type RaceRowSpec } from '../lib/sim';
import { assertThrowsCode } from './helpers';

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
    await assert.rejects(runRace({ seconds: 0 }), (e: unknown) => e instanceof PerCpuRangeError);
    await assert.rejects(runRace({ threads: 1 }), (e: unknown) => e instanceof PerCpuRangeError);
    await assert.rejects(runRace({ threads: 5 }), (e: unknown) => e instanceof PerCpuRangeError); // the region has 4 CPUs
  });
});
