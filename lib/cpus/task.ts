/**
 * Tasks: exported functions of modules, run on CPUs by CpuSet. Shared by the main side
 * (cpuset.ts) and the worker side (worker.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PerCpuTypeError, describeThrown, nativeErrorClasses } from '../core/errors';
import { native } from '../core/native';
import { DynamicPerCpu, PerCpuVariable, StaticPerCpu, isObject, isSharedPerCpu, revive, type SharedPerCpu } from '../core/percpu';
import { PerCpuPair, isSharedPerCpuPair, revivePair, type SharedPerCpuPair } from '../core/pair';
import { thisCpu } from '../core/region';
import type { NumericType } from '../core/types';
import type { TsxApis } from './typescript';

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

/** The names of the functions module type `M` exports (`typeof import('./tasks.js')`): its tasks. */
export type TaskName<M> = { [K in keyof M & string]: M[K] extends AnyFunction ? K : never }[keyof M & string];

/** The Task of a function, typed by its parameters and its (awaited) result. */
export type TaskOf<F> = F extends (...args: infer A) => infer R ? Task<A, Awaited<R>> : never;

/** What tasks<M>() returns: a Task for each function module type `M` exports, and nothing else. */
export type Tasks<M> = { readonly [K in TaskName<M>]: TaskOf<M[K]> };

/**
 * Names a task: `task<typeof increment>(require.resolve('./tasks'), 'increment')` in CommonJS, or
 * `task<typeof increment>(new URL('./tasks.js', import.meta.url), 'increment')` in an ES module.
 * The module must export `name` as a function. tasks() checks the name at compile time as well.
 */
export function task<F extends AnyFunction>(module: string | URL, name: string): Task<Parameters<F>, Awaited<ReturnType<F>>> {
  if (typeof name !== 'string' || name === '') throw new PerCpuTypeError('a task needs the name of an exported function');
  return { module: taskModuleHref(module), name };
}

/**
 * The tasks of a module, typed by the module: `tasks<typeof import('./tasks.js')>(url).handle` is
 * the Task of its exported function `handle`, with `handle`'s parameters and result, and a name it
 * does not export (or exports as anything but a function) is a compile-time error. `url` is what
 * task() takes: `new URL('./tasks.js', import.meta.url)` in an ES module, `require.resolve('./tasks')`
 * in CommonJS. The module is not loaded here: each CPU loads it when it first runs one of its tasks.
 */
export function tasks<M>(module: string | URL): Tasks<M> {
  const href = taskModuleHref(module);
  const made = new Map<string, Task>();
  const get = (_target: object, name: string | symbol): Task | undefined => {
    if (typeof name !== 'string' || name === '') return undefined;
    let t = made.get(name);
    if (t === undefined) made.set(name, (t = Object.freeze({ module: href, name })));
    return t;
  };
  return new Proxy(Object.freeze(Object.create(null) as object), { get }) as Tasks<M>;
}

const TS_EXTENSION = /\.[cm]?ts$/;

/**
 * A task module as a file: URL string: a file URL, or an absolute path. Anything else (a relative
 * path, a bare name, another URL scheme) is a PerCpuTypeError that says what to write instead; so
 * is the program's main module (see refuseMainModule).
 */
function taskModuleHref(module: unknown): string {
  let url: URL;
  if (module instanceof URL) url = new URL(module.href);
  else if (typeof module === 'string' && module.startsWith('file:')) {
    if (!URL.canParse(module)) throw new PerCpuTypeError(`a task module's file: URL does not parse: '${module}'`);
    url = new URL(module);
  } else if (typeof module === 'string' && path.isAbsolute(module)) url = pathToFileURL(module);
  else throw new PerCpuTypeError(relativeModuleMessage(module));
  if (url.protocol !== 'file:') throw new PerCpuTypeError(`a task module is a file: each CPU imports it from disk, not from ${url.protocol} URLs`);
  refuseMainModule(url.href);
  return url.href;
}

function relativeModuleMessage(module: unknown): string {
  if (typeof module !== 'string') return `a task module is an absolute path or a file: URL, not ${describeThrown(module)}`;
  // An ES module names the file it imports, './tasks.js' for './tasks.ts' (as tsx and tsc expect);
  // require.resolve() finds the extension itself.
  const esm = path.extname(module) === '' ? `${module}.js` : module.replace(TS_EXTENSION, (ts) => ts.replace('t', 'j'));
  const cjs = module.replace(TS_EXTENSION, '');
  return (
    `a task module is an absolute path or a file: URL, not '${module}': every CPU imports it, each from ` +
    `its own thread, so a path relative to the calling module means nothing there. Write ` +
    `new URL('${esm}', import.meta.url) in an ES module, or require.resolve('${cjs}') in CommonJS`
  );
}

/** The real paths of this thread's main module (process.argv[1] as Node resolves it), once. */
let mainModuleFiles: ReadonlySet<string> | undefined;

function realpath(file: string): string | undefined {
  try {
    return fs.realpathSync(file);
  } catch {
    return undefined; // no such file
  }
}

function mainFiles(): ReadonlySet<string> {
  if (mainModuleFiles !== undefined) return mainModuleFiles;
  const files = new Set<string>();
  const entry = process.argv[1];
  if (typeof entry === 'string' && entry !== '') {
    // `node main` finds main.js; the other extensions cover ES modules and TypeScript under tsx.
    const resolved = path.resolve(entry);
    for (const extension of ['', '.js', '.mjs', '.cjs', '.ts', '.mts', '.cts']) {
      const file = realpath(resolved + extension);
      if (file !== undefined) files.add(file);
    }
  }
  return (mainModuleFiles = files);
}

/** `if (require.main === module)` (or `!==`, either way round): a CommonJS program that a worker's import does not run. */
const PROGRAM_GUARD = /\brequire\.main\s*[!=]==?\s*module\b|\bmodule\s*[!=]==?\s*require\.main\b/;

/**
 * A string literal (kept: a `//` in it starts no comment) or a comment (matched to be dropped). A
 * scan, not a parse: a regular expression literal holding a quote or a comment opener, or a
 * template literal holding another, may be misread; a guard written inside a string still counts.
 */
const STRING_OR_COMMENT = /('(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|`(?:\\.|[^`\\])*`)|\/\/[^\n]*|\/\*[\s\S]*?\*\//g;

/** Whether the module's code (its comments left out) holds PROGRAM_GUARD. */
function guardsItsProgram(file: string): boolean {
  let source: string;
  try {
    source = fs.readFileSync(file, 'utf8');
  } catch {
    return false;
  }
  return PROGRAM_GUARD.test(source.replace(STRING_OR_COMMENT, (_match, literal: string | undefined) => literal ?? ' '));
}

/** Why `href` cannot be a task module (it is the main module and not a guarded CommonJS one), or null. Cached per URL. */
const mainModuleProblems = new Map<string, string | null>();

function mainModuleProblem(href: string): string | null {
  let problem = mainModuleProblems.get(href);
  if (problem !== undefined) return problem;
  problem = null;
  let file: string | undefined;
  try {
    file = realpath(fileURLToPath(href));
  } catch {
    file = undefined; // not a file URL of this system: CPUs will say so when they import it
  }
  if (file !== undefined && mainFiles().has(file)) {
    const commonJs = require.main !== undefined && realpath(require.main.filename) === file;
    if (!commonJs) {
      problem =
        `the task module ${href} is the program's main module, an ES module: CPU 0 would import it while it may ` +
        `still be evaluating (a top-level await of CpuSet work would wait for that import, which waits for it: ` +
        `forever), and every worker CPU would import it afresh and run the program again. Put the tasks in a ` +
        `module of their own (for example tasks.js beside it)`;
    } else if (!guardsItsProgram(file)) {
      problem =
        `the task module ${href} is the program's main module, and nothing keeps its program from running when ` +
        `a worker CPU imports it: every worker would run the whole program again. Put the tasks in a module of ` +
        `their own (for example tasks.js beside it), or run the program only if (require.main === module)`;
    }
  }
  if (mainModuleProblems.size < 1024) mainModuleProblems.set(href, problem);
  return problem;
}

/**
 * The program's main module is no task module, unless it is a CommonJS module that runs its program
 * only `if (require.main === module)` in its code (a comment is no guard): such a module has
 * finished evaluating by the time a CPU imports it, and a worker's import does not run its program.
 * An ES main module is refused: as CPU 0 this thread would import it while it may still be
 * evaluating (a top-level await of CpuSet work waits for the import, which waits for it: a hang),
 * and every worker CPU would run it again.
 */
function refuseMainModule(href: string): void {
  const problem = mainModuleProblem(href);
  if (problem !== null) throw new PerCpuTypeError(problem);
}

/** Task arguments: per-CPU variables may stand anywhere at the top level. */
export type TaskArgs<Args extends unknown[]> = { [K in keyof Args]: Args[K] };

const loaded = new Map<string, Promise<Record<string, unknown>>>();

/** Loads a task's function on this thread (modules are cached per thread). */
async function resolveTask(t: TaskRef): Promise<(...args: unknown[]) => unknown> {
  let module = loaded.get(t.module);
  if (module === undefined) {
    module = (import(t.module) as Promise<Record<string, unknown>>).catch((error: unknown) => {
      throw explainImportFailure(t.module, error);
    });
    loaded.set(t.module, module);
  }
  const namespace = await module;
  // Own properties only: `constructor` or `toString`, inherited from Object.prototype by a
  // CommonJS module's exports, are not tasks.
  const fn = ownProperty(namespace, t.name) ?? ownProperty(namespace['default'], t.name);
  if (typeof fn !== 'function') throw new PerCpuTypeError(`${t.module} does not export a function named ${t.name}`);
  return fn as (...args: unknown[]) => unknown;
}

/**
 * A TypeScript module this thread has no loader for (`Unknown file extension ".ts"`, or
 * './tasks.js' not found beside tasks.ts): what to do about it, not only Node's words.
 */
function explainImportFailure(module: string, error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  let file: string;
  try {
    file = fileURLToPath(module);
  } catch {
    return error; // not a file URL this thread can read: Node's words say it
  }
  const typescript =
    (code === 'ERR_UNKNOWN_FILE_EXTENSION' && TS_EXTENSION.test(file)) ||
    (code === 'ERR_MODULE_NOT_FOUND' && !fs.existsSync(file) && fs.existsSync(file.replace(/\.([cm]?)js$/, '.$1ts')));
  if (!typescript) return error;
  return new PerCpuTypeError(
    `${describeThrown((error as Error).message)}: this thread cannot load the TypeScript task module ${module}. ` +
      `Run the program under tsx (npx tsx main.ts, or node --import tsx main.ts): CpuSet then loads tsx in ` +
      `each worker CPU. Or compile the tasks to JavaScript and name the .js file`,
  );
}

/** An own property of `object` (an object or a function), read once; never one inherited from a prototype someone changed. */
export function ownProperty(object: unknown, name: string): unknown {
  return isObject(object) && Object.hasOwn(object, name) ? (object as Record<string, unknown>)[name] : undefined;
}

/** Checks that `t` is what task() returns (its two strings), before it is sent anywhere. */
export function checkTaskRef(t: unknown): TaskRef {
  const { module, name } = (typeof t === 'object' && t !== null ? t : {}) as Partial<TaskRef>;
  if (typeof module !== 'string' || typeof name !== 'string') throw new PerCpuTypeError('a task is what task() or tasks() returns');
  if (URL.canParse(module) && module.startsWith('file:')) refuseMainModule(module); // a task made by hand
  return { module, name };
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
function decodeArgs(encoded: EncodedArg[]): { args: unknown[]; borrowed: Borrowed[] } {
  const borrowed: Borrowed[] = [];
  try {
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
  } catch (error) {
    releaseBorrowed(borrowed); // the tickets not redeemed yet are dropped by the sender
    throw error;
  }
}

function releaseBorrowed(borrowed: readonly Borrowed[]): void {
  for (const variable of borrowed) if (!variable.released) variable.release();
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

/** One task to run on one CPU: where the function is, its encoded arguments, and its start barrier. */
export interface TaskRun {
  readonly task: TaskRef;
  readonly args: EncodedArg[];
  /** onEachCpu's: every CPU's task starts once all have recorded their CPU (see startTogether). */
  readonly barrier?: StartBarrier;
}

/**
 * The start barrier of one onEachCpu(): an Int32Array on a SharedArrayBuffer of
 * [tasks that recorded their CPU, cancelled], and how many tasks there are.
 */
export interface StartBarrier {
  readonly buffer: SharedArrayBuffer;
  readonly tasks: number;
}

export function newStartBarrier(tasks: number): StartBarrier {
  return { buffer: new SharedArrayBuffer(8), tasks };
}

/** No task of this barrier waits any longer (a CPU's task failed or was never sent, or close() gave up on one): each goes on. */
export function cancelStartBarrier(barrier: StartBarrier): void {
  const words = new Int32Array(barrier.buffer);
  Atomics.store(words, 1, 1);
  Atomics.notify(words, 0);
}

/** What a CPU's worker is started with: its CPU, and the tsx to register first (./typescript). */
export interface WorkerCpuData {
  readonly cpu: number;
  readonly tsx?: TsxApis;
}

/** Messages between the main thread and a CPU's worker. */
export type ToWorker = { type: 'bind' } | ({ type: 'run'; id: number } & TaskRun) | { type: 'close' };
export type FromWorker =
  | { type: 'ready' }
  | { type: 'start-failed'; error: SerializedError }
  | ({ type: 'done'; id: number } & ({ ok: true; cpu: number | null; value: unknown } | { ok: false; cpu: number | null; error: SerializedError }));

/** What running a task here came to: the CPU it started on (null if this thread was not bound), and its value or what it threw. */
export type TaskOutcome = { cpu: number | null; ok: true; value: unknown } | { cpu: number | null; ok: false; error: unknown };

/** Preemption disabled by this thread's task runner (startTogether), not by user code. */
let runnerPins = 0;

/** How many of this thread's preempt-count levels the task runner holds (CpuSet.close() tells them from a user's CpuGuard). */
export function runnerPinCount(): number {
  return runnerPins;
}

type WaitAsync = (typed: Int32Array, index: number, value: number) => { async: boolean; value: Promise<string> | string };

/**
 * onEachCpu's start: records this thread's CPU with preemption off (the scheduler does not move a
 * thread holding it), and keeps it off until every CPU's task has recorded its CPU, so that the
 * CPUs recorded are distinct, each one the CPU its thread was on when the last task recorded. Returns
 * the CPU and the function that turns preemption back on (the caller calls it right before the task).
 */
async function startTogether(barrier: StartBarrier): Promise<{ cpu: number | null; unpin: () => void }> {
  const pinned = native.thisCpu() >= 0;
  if (pinned) {
    native.preemptDisable();
    runnerPins++;
  }
  let unpinned = !pinned;
  const unpin = () => {
    if (unpinned) return;
    unpinned = true;
    runnerPins--;
    native.preemptEnable();
  };
  try {
    const cpu = thisCpu();
    const words = new Int32Array(barrier.buffer);
    Atomics.add(words, 0, 1);
    Atomics.notify(words, 0);
    const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;
    for (let seen = Atomics.load(words, 0); seen < barrier.tasks && Atomics.load(words, 1) === 0; seen = Atomics.load(words, 0)) {
      const wait = waitAsync(words, 0, seen);
      if (wait.async) await wait.value;
    }
    return { cpu, unpin };
  } catch (error) {
    unpin();
    throw error;
  }
}

/**
 * Runs a task on this thread (a worker, or the main thread as CPU 0): the same steps on every CPU.
 * Per-CPU variables among the arguments are revived here as new handles (clones of the caller's),
 * released when the task settles, whatever it did with them. `abandoned` is asked right before the
 * function is called: true skips it. Never rejects.
 */
export async function runTask(run: TaskRun, abandoned: () => boolean = () => false): Promise<TaskOutcome> {
  let cpu: number | null = null;
  let borrowed: Borrowed[] = [];
  let unpin = () => {};
  try {
    const fn = await resolveTask(run.task);
    if (run.barrier) ({ cpu, unpin } = await startTogether(run.barrier));
    else cpu = thisCpu();
    if (abandoned()) throw new Error('abandoned before it started');
    const decoded = decodeArgs(run.args);
    borrowed = decoded.borrowed;
    unpin();
    return { cpu, ok: true, value: await fn(...decoded.args) };
  } catch (error) {
    return { cpu, ok: false, error };
  } finally {
    unpin();
    releaseBorrowed(borrowed);
  }
}

