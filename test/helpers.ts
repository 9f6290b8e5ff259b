/**
 * Test helpers: CpuSets that always close, mocha hooks that hold one for a describe block,
 * typed tasks from ./tasks, plain worker threads, and exact error checks.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { Worker, type TransferListItem } from 'node:worker_threads';
import { CpuSet, task, thisCpu, typeInfo, type CpuSetOptions, type NumericType, type TaskName, type TaskOf, type ValueOf } from '../lib';
import { TEST_CPUS } from './setup';
import type * as tasks from './tasks';
import type { PlainWorkerRequest, PlainWorkerReply } from './plain-worker';

export { TEST_CPUS };

type WithSet<R> = (set: CpuSet) => Promise<R> | R;

/**
 * Starts a CpuSet of `cpus` CPUs (with `options`; or with `options` alone, passed as they are),
 * runs `fn` with it and closes it, whatever `fn` does.
 */
export async function withCpuSet<R>(cpus: number, fn: WithSet<R>): Promise<R>;
export async function withCpuSet<R>(cpus: number, options: Omit<CpuSetOptions, 'cpus'>, fn: WithSet<R>): Promise<R>;
export async function withCpuSet<R>(options: CpuSetOptions, fn: WithSet<R>): Promise<R>;
export async function withCpuSet<R>(first: number | CpuSetOptions, second: WithSet<R> | Omit<CpuSetOptions, 'cpus'>, third?: WithSet<R>): Promise<R> {
  const fn = (third ?? second) as WithSet<R>;
  const options = typeof first === 'number' ? { ...(third === undefined ? {} : second), cpus: first } : first;
  const set = await CpuSet.start(options);
  try {
    return await fn(set);
  } finally {
    await set.close();
  }
}

/** A CpuSet held by mocha hooks; `set` is usable inside tests. */
export interface CpuSetFixture {
  readonly set: CpuSet;
}

function fixture(cpus: number, setUp: (fn: () => Promise<void>) => void, tearDown: (fn: () => Promise<void>) => void): CpuSetFixture {
  let current: CpuSet | undefined;
  setUp(async () => {
    assert.equal(thisCpu(), null, 'a CpuSet is still open: close it before starting another');
    current = await CpuSet.start({ cpus });
  });
  tearDown(async () => {
    const set = current;
    current = undefined;
    await set?.close();
    assert.equal(thisCpu(), null, 'the main thread is still bound after close()');
  });
  return {
    get set(): CpuSet {
      if (current === undefined) throw new Error('no CpuSet is open here: use the fixture inside a test');
      return current;
    },
  };
}

/** One CpuSet for every test of the enclosing describe block (before/after). */
export function useCpuSet(cpus: number = TEST_CPUS): CpuSetFixture {
  return fixture(cpus, before, after);
}

/** A fresh CpuSet for each test of the enclosing describe block (beforeEach/afterEach). */
export function useCpuSetEach(cpus: number = TEST_CPUS): CpuSetFixture {
  return fixture(cpus, beforeEach, afterEach);
}

type Tasks = typeof tasks;

/** The task `name` of ./tasks, typed by its function. */
export function taskOf<K extends TaskName<Tasks>>(name: K): TaskOf<Tasks[K]> {
  return task<Tasks[K]>(require.resolve('./tasks'), name) as TaskOf<Tasks[K]>;
}

/** 0, 1, ..., TEST_CPUS - 1. */
export const ALL_CPUS: readonly number[] = Array.from({ length: TEST_CPUS }, (_, cpu) => cpu);

/** The value `n` as type `T`'s JS type (a bigint for 64-bit and size types). */
export function val<T extends NumericType>(type: T, n: number | bigint): ValueOf<T> {
  return (typeInfo(type).big ? BigInt(n) : Number(n)) as ValueOf<T>;
}

/** An error class with a code, as percpu's are. */
type ErrorClass = abstract new (...args: never[]) => Error;

function checkCoded(thrown: unknown, cls: ErrorClass, code: string, name: string): Error {
  assert.ok(thrown instanceof cls, `expected a ${cls.name}, got ${String(thrown)}`);
  assert.equal((thrown as { code?: unknown }).code, code);
  assert.equal(thrown.name, name);
  return thrown;
}

/**
 * Asserts that `fn` throws an instance of `cls` with `code` and the class's name, and returns
 * the error for further checks.
 */
export function assertThrowsCode(fn: () => unknown, cls: ErrorClass, code: string, name: string = cls.name): Error {
  let thrown: unknown;
  assert.throws(fn, (error: unknown) => ((thrown = error), true));
  return checkCoded(thrown, cls, code, name);
}

/** As assertThrowsCode, for a promise (or a function that may throw before it returns one). */
export async function assertRejectsCode(fn: () => Promise<unknown>, cls: ErrorClass, code: string, name: string = cls.name): Promise<Error> {
  let thrown: unknown;
  await assert.rejects(async () => fn(), (error: unknown) => ((thrown = error), true));
  return checkCoded(thrown, cls, code, name);
}

const PLAIN_WORKER = path.join(__dirname, 'plain-worker.js');

/**
 * Runs ./plain-worker in a plain worker_threads Worker (not a CpuSet CPU): it does what
 * `request` says and posts one reply. Resolves with the reply and the worker's exit code.
 */
export function runPlainWorker(request: PlainWorkerRequest, transferList: readonly TransferListItem[] = []): Promise<{ reply: PlainWorkerReply; exitCode: number }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(PLAIN_WORKER, { workerData: request, transferList: [...transferList] });
    let reply: PlainWorkerReply | undefined;
    worker.on('message', (message: PlainWorkerReply) => {
      reply = message;
    });
    worker.on('error', reject);
    worker.on('exit', (exitCode) => {
      if (reply === undefined) reject(new Error(`the plain worker exited with code ${exitCode} without replying`));
      else resolve({ reply, exitCode });
    });
  });
}
