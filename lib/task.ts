/**
 * Tasks: exported functions of modules, run on CPUs by CpuSet. Shared by the main side
 * (cpuset.ts) and the worker side (worker.ts).
 */
import { pathToFileURL } from 'node:url';
import * as path from 'node:path';
import { PerCpuTypeError, describeThrown, nativeErrorClasses } from './errors';
import { native } from './native';
import { DynamicPerCpu, PerCpuVariable, StaticPerCpu, isSharedPerCpu, revive, type SharedPerCpu } from './percpu';
import { PerCpuPair, isSharedPerCpuPair, revivePair, type SharedPerCpuPair } from './pair';
import type { NumericType } from './types';

/** What a task borrows from its arguments: released when it settles. */
type Borrowed = DynamicPerCpu<NumericType> | PerCpuPair;

/** A function `name` exported by the module at `module` (a file URL string). */
export interface Task<Args extends unknown[] = unknown[], Result = unknown> {
  readonly module: string;
  readonly name: string;
  /** Phantom: carries the function's signature for type checking. */
  readonly __signature?: (...args: Args) => Result;
}

/** Where a task lives, without its signature. */
export type TaskRef = Pick<Task, 'module' | 'name'>;

type AnyFunction = (...args: never[]) => unknown;

/**
 * Names a task: `task<typeof increment>(require.resolve('./tasks'), 'increment')` or with
 * `import.meta.url` in ESM. The module must export `name` as a function.
 */
export function task<F extends AnyFunction>(module: string | URL, name: string): Task<Parameters<F>, Awaited<ReturnType<F>>> {
  if (typeof name !== 'string' || name === '') throw new PerCpuTypeError('a task needs the name of an exported function');
  let href: string;
  if (module instanceof URL) href = module.href;
  else if (typeof module === 'string' && module.startsWith('file:')) href = module;
  else if (typeof module === 'string' && path.isAbsolute(module)) href = pathToFileURL(module).href;
  else throw new PerCpuTypeError('a task module must be an absolute path or a file: URL');
  return { module: href, name };
}

/** Task arguments: per-CPU variables may stand anywhere at the top level. */
export type TaskArgs<Args extends unknown[]> = { [K in keyof Args]: Args[K] };

const loaded = new Map<string, Promise<Record<string, unknown>>>();

/** Loads a task's function on this thread (modules are cached per thread). */
export async function resolveTask(t: TaskRef): Promise<(...args: unknown[]) => unknown> {
  let module = loaded.get(t.module);
  if (module === undefined) {
    module = import(t.module) as Promise<Record<string, unknown>>;
    loaded.set(t.module, module);
  }
  const namespace = await module;
  const fn = namespace[t.name] ?? (namespace.default as Record<string, unknown> | undefined)?.[t.name];
  if (typeof fn !== 'function') throw new PerCpuTypeError(`${t.module} does not export a function named ${t.name}`);
  return fn as (...args: unknown[]) => unknown;
}

/** One encoded argument: per-CPU variables and pairs travel as shares, the rest by structured clone. */
export type EncodedArg = { shared: SharedPerCpu } | { sharedPair: SharedPerCpuPair } | { value: unknown };

/** Encodes args for another CPU. Returns the tickets taken, to be dropped once the task settles. */
export function encodeArgs(args: unknown[]): { encoded: EncodedArg[]; tickets: number[] } {
  const tickets: number[] = [];
  try {
    const encoded = args.map((arg): EncodedArg => {
      if (arg instanceof DynamicPerCpu || arg instanceof StaticPerCpu) {
        const shared = (arg as DynamicPerCpu<NumericType> | StaticPerCpu<NumericType>).share();
        if (shared.percpu === 'dynamic') tickets.push(shared.ticket);
        return { shared };
      }
      if (arg instanceof PerCpuPair) {
        const sharedPair = arg.share();
        tickets.push(sharedPair.ticket);
        return { sharedPair };
      }
      return { value: arg };
    });
    return { encoded, tickets };
  } catch (error) {
    for (const ticket of tickets) native.dropTicket(ticket); // a released argument: give back the rest
    throw error;
  }
}

/** Decodes args on the CPU that runs the task. Dynamic variables revived here are released after it. */
export function decodeArgs(encoded: EncodedArg[]): { args: unknown[]; borrowed: Borrowed[] } {
  const borrowed: Borrowed[] = [];
  const args = encoded.map((arg) => {
    if ('shared' in arg && isSharedPerCpu(arg.shared)) {
      const variable: PerCpuVariable<NumericType> = revive(arg.shared);
      if (variable instanceof DynamicPerCpu) borrowed.push(variable);
      return variable;
    }
    if ('sharedPair' in arg && isSharedPerCpuPair(arg.sharedPair)) {
      const pair = revivePair(arg.sharedPair);
      borrowed.push(pair);
      return pair;
    }
    return (arg as { value: unknown }).value;
  });
  return { args, borrowed };
}

/** An error as it crosses threads. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: unknown;
}

/** Any thrown value as plain strings, so it always crosses threads (a structured clone). */
export function serializeError(error: unknown): SerializedError {
  try {
    if (!(error instanceof Error)) return { name: 'Error', message: describeThrown(error) };
    const text = (value: unknown) => (typeof value === 'string' ? value : describeThrown(value));
    const { name, message, stack } = error;
    const code = (error as { code?: unknown }).code;
    return {
      name: text(name),
      message: text(message),
      ...(typeof stack === 'string' ? { stack } : {}),
      ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    };
  } catch {
    return { name: 'Error', message: 'the task threw a value whose properties cannot be read' }; // throwing getters
  }
}

// percpu's own errors keep their class across threads.
const errorClasses = new Map<string, new (message: string) => Error>(
  Object.entries(nativeErrorClasses).map(([name, cls]) => [name, cls as new (message: string) => Error]),
);

export function deserializeError(serialized: SerializedError): Error {
  const Class = errorClasses.get(serialized.name);
  const error = Class ? new Class(serialized.message) : new Error(serialized.message);
  error.name = serialized.name;
  if (serialized.stack !== undefined) error.stack = serialized.stack;
  if (serialized.code !== undefined && !Class) (error as Error & { code?: unknown }).code = serialized.code;
  return error;
}

/** Messages between the main thread and a CPU's worker. */
export type ToWorker = { type: 'run'; id: number; task: TaskRef; args: EncodedArg[] } | { type: 'close' };
export type FromWorker =
  | { type: 'ready'; cpu: number }
  | { type: 'bind-failed'; error: SerializedError }
  | { type: 'done'; id: number; ok: true; value: unknown }
  | { type: 'done'; id: number; ok: false; error: SerializedError };

/** Runs a task on this thread with decoded args; releases what it borrowed, whatever happens. */
export async function runHere(t: TaskRef, args: unknown[], borrowed: Borrowed[] = []): Promise<unknown> {
  try {
    const fn = await resolveTask(t);
    return await fn(...args);
  } finally {
    for (const variable of borrowed) if (!variable.released) variable.release();
  }
}
