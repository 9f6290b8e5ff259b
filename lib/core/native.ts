/**
 * The one loader of percpu's native modules. Everything else imports `native` from here.
 *
 * - percpu.node, the binding (native/core + native/binding): Node-API only, so one build serves
 *   every Node line. node-gyp-build finds it: a build made in this package (build/Release) first,
 *   else the prebuilt binary for this platform (prebuilds/linux-<arch>/), which the npm package
 *   ships, so installing compiles nothing where one matches.
 * - percpu_accel.node, the accelerator (native/accel): num()'s ops through V8's own API, built for
 *   exactly one Node ABI. It is used only when it was built for the running Node (Node refuses any
 *   other ABI at load, and this loader checks the ABI and V8 line again before the binding
 *   attaches it); otherwise, or with PERCPU_FAST=0, num() uses the binding's Node-API callbacks,
 *   and `fastPath` says why in one line. A Node upgrade never crashes: it falls back.
 * - percpu_sim.node, the race demo's loops (native/sim), loaded only by the simulator.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { nativeErrorClasses } from './errors';

/** A native per-CPU handle: one thread's reference to an allocation (native/binding/handle.cc). */
export interface NativeHandle {
  read(): number | bigint;
  write(value: number | bigint): void;
  readRemote(cpu: number): number | bigint;
  writeRemote(cpu: number, value: number | bigint): void;
  sum(): number | bigint;
  /** The op functions; `nodeApiOnly` skips the accelerator (the benchmarks measure both paths). */
  ops(nodeApiOnly?: boolean): Record<string, (...values: (number | bigint)[]) => number | bigint | undefined>;
  clone(): NativeHandle;
  share(): number;
  release(): void;
  cmpxchgDouble(oldLo: bigint, oldHi: bigint, lo: bigint, hi: bigint): boolean;
  readPair(cpu: number): [bigint, bigint];
  writePair(cpu: number, lo: bigint, hi: bigint): void;
  /** A u64 pair (PerCpuPair): only the pair methods apply. */
  readonly pair: boolean;
  readonly live: boolean;
  readonly refCount: number;
  readonly offset: number;
  /** Index in the type table. */
  readonly type: number;
  readonly isStatic: boolean;
}

export type BackendName = 'gs' | 'generic';
export type BackendChoice = BackendName | 'auto';

export interface NativeRegionInfo {
  cpus: number;
  areaSize: number;
  backend: BackendName;
  backendReason: string;
  fellBack: boolean;
  gsMethod: 'wrgsbase' | 'arch_prctl' | null;
}

export interface NativeStats {
  liveAllocations: number;
  bytesInUse: number;
  freeBytes: number;
  largestFree: number;
  freeBlocks: number;
  outstandingTickets: number;
}

/** The scheduler's native face (native/binding/scheduler.cc); lib/sim/scheduler.ts and lib/sim/race.ts wrap it. */
export interface NativeScheduler {
  start(migrateHz: number, irqHz: number, cpus: number[] | null): void;
  stop(): boolean;
  participate(): boolean;
  leave(): boolean;
  participating(): boolean;
  stats(): NativeSchedulerStats;
  threadStats(): NativeThreadSchedulerStats;
  irqDisable(): number;
  irqEnable(): number;
  irqAction(counter: string | null, kind?: 'gs' | 'generic'): number;
}

export interface NativeSchedulerStats {
  running: boolean;
  migrateHz: number;
  irqHz: number;
  cpus: number[] | null;
  participants: number;
  signals: { migrate: number; irq: number; sigrtmin: number } | null;
  requests: number;
  migrations: number;
  skippedGuard: number;
  timedOut: number;
  partnerGone: number;
  irqsSent: number;
  irqsHandled: number;
  /** Interrupts not sent because the last one was still pending (interrupts off): a masked interrupt is pending once. */
  irqsCoalesced: number;
  /** Swaps not proposed to a thread whose last migration signal was still pending. */
  migrationsCoalesced: number;
  checksPassed: number;
  checkFailures: number;
  verifications: number;
  violations: number;
  strays: number;
  staleSignals: number;
  drained: number;
  sendFailures: number;
}

export interface NativeThreadSchedulerStats {
  participating: boolean;
  tid: number;
  cpu: number;
  handled: number;
  migrations: number;
  declined: number;
  irqs: number;
  irqDepth: number;
}

export interface NativeAddon {
  types: { name: string; size: number; big: boolean }[];
  /** The op table (native/core/ops.h), in order. */
  ops: { name: string; operands: number; returns: boolean }[];
  /** The backends this build has: ['gs', 'generic'] on Linux x86-64, ['generic'] elsewhere. */
  backends: BackendName[];
  /** How the gs backend sets GS bases here (wrgsbase needs no system call); null without gs. */
  gsMethod: 'wrgsbase' | 'arch_prctl' | null;
  init(errorClasses: object): void;
  setup(cpus: number, areaSize: number, backend: BackendChoice, source: string): NativeRegionInfo;
  region(): NativeRegionInfo | null;
  bind(cpu: number): void;
  unbind(): void;
  thisCpu(): number;
  gsBase(): bigint | null;
  preemptDisable(): number;
  preemptEnable(): number;
  preemptCount(): number;
  allocate(type: number): NativeHandle;
  allocateWith(type: number, value: number | bigint): NativeHandle;
  allocateFrom(type: number, values: (number | bigint)[]): NativeHandle;
  allocatePair(lo: bigint, hi: bigint): NativeHandle;
  defineStatic(name: string, type: number, init: number | bigint): NativeHandle;
  getStatic(name: string): NativeHandle | null;
  /** Redeems a ticket expected to be of `type` (or a pair); one of another kind is refused and left as it was. */
  redeem(ticket: number, type: number, pair: boolean): NativeHandle;
  dropTicket(ticket: number): boolean;
  stats(): NativeStats;
  /** Attaches the accelerator Node has loaded from `path`: null when attached, else why not. */
  attachAccelerator(path: string): string | null;
  sched: NativeScheduler;
}

/** The race demo's native loops (native/sim), a module of their own. */
export interface NativeSimulator {
  init(errorClasses: object): void;
  attach(bindingPath: string): void;
  /** method: 0 gs, 1 raw, 2 guard, 3 irqsave; `counter` names a u64 static; runs until stop[0] != 0 or maxMs. */
  raceLoop(method: number, counter: string, stop: Int32Array, maxMs: number, windowNs: number): { iterations: number; irqAdds: number };
}

/** What the accelerator exports (native/accel/accel.cc), read before it is attached. */
interface AcceleratorExports {
  nodeAbi: string;
  v8Version: string;
  nodeVersion: string;
  protocol: string;
  /** The (type, op) pairs that have a fast C function on that line. */
  fastOps: Record<string, string[]>;
  /** This thread's count of op calls that did not complete in a fast C function. */
  slowCalls(): number;
}

/** Whether num()'s ops run through the accelerator (V8's fast path), and why, in one line. */
export interface FastPathInfo {
  readonly active: boolean;
  /** The accelerator in use, or null. */
  readonly path: string | null;
  /** One line: what is in use, or why the Node-API path is. */
  readonly reason: string;
  /**
   * The ops, by type, whose functions have a fast C function that V8's optimizing compiler calls
   * straight from optimized code (V8 fast API calls): `{ u32: ['read', 'write', ...], ... }`. The
   * others run as V8 API functions. Empty on the Node-API path.
   */
  readonly fastOps: Readonly<Record<string, readonly string[]>>;
}

/** This package's root (dist/lib/core/../../..). */
export const PACKAGE_ROOT = path.join(__dirname, '..', '..', '..');

const requireNode = (file: string): unknown => require(file);

function firstLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split('\n')[0]!;
}

/**
 * Where the binding is loaded from: node-gyp-build's choice (build/Release, else the prebuilt
 * binary for this platform), unless PERCPU_ADDON names another build of the same sources (the
 * cmake-js and sanitizer builds run the suite that way).
 */
function findBinding(): string {
  const fromEnv = process.env['PERCPU_ADDON'];
  if (fromEnv) return fromEnv;
  const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
  try {
    return nodeGypBuild.path(PACKAGE_ROOT);
  } catch (cause) {
    throw new Error(
      `percpu has no native binding for linux-${process.arch}: no prebuilt binary matches it and none was built ` +
        `(${firstLine(cause)}). Prebuilt binaries ship for linux-x64 and linux-arm64; elsewhere run ` +
        '`npm rebuild percpu`, which needs python3, make and a C++20 compiler (g++ 10 or newer).',
      { cause },
    );
  }
}

/**
 * Loads the binding, or throws one error that says what was tried and what to do. Linux only: on
 * x86-64 the binding has the gs and generic backends, on other architectures the generic one.
 */
function load(): { addon: NativeAddon; addonPath: string } {
  if (process.platform !== 'linux') {
    throw new Error(
      `percpu supports Linux only (this is ${process.platform}-${process.arch}): its per-CPU areas, thread binding ` +
        'and GS instructions use Linux system calls. Nothing was loaded.',
    );
  }
  const addonPath = findBinding();
  let addon: NativeAddon;
  try {
    addon = requireNode(addonPath) as NativeAddon;
  } catch (cause) {
    const tried = process.env['PERCPU_ADDON'] ? `${addonPath} (from PERCPU_ADDON)` : addonPath;
    throw new Error(
      `percpu could not load its native binding from ${tried}: ${firstLine(cause)}\n` +
        'To build it again run `npm rebuild percpu` (inside the package itself: `npm run build`); that needs ' +
        'python3, make and a C++20 compiler (g++ 10 or newer).',
      { cause },
    );
  }
  addon.init(nativeErrorClasses);
  return { addon, addonPath: fs.realpathSync(addonPath) };
}

const loaded = load();
export const native: NativeAddon = loaded.addon;
/** The binding in use (a real path: the other native modules find it loaded under that name). */
export const addonPath: string = loaded.addonPath;

/** Why Node refused to load a module, in one line (Node's ABI message spans five). */
function loadRefusal(error: unknown): string {
  const message = String((error as Error)?.message ?? error).replace(/\s+/g, ' ');
  const abi = /NODE_MODULE_VERSION (\d+)\. This version of Node\.js requires NODE_MODULE_VERSION (\d+)/.exec(message);
  if (abi) return `it was compiled for NODE_MODULE_VERSION ${abi[1]} and this Node requires NODE_MODULE_VERSION ${abi[2]}`;
  return message.length > 240 ? `${message.slice(0, 240)}...` : message;
}

/** The V8 line of a version string: "12.4" of "12.4.254.21-node.57". */
function v8Line(version: string): string {
  return version.split('.').slice(0, 2).join('.');
}

/**
 * The accelerators this Node could use, most specific first: PERCPU_ACCEL alone when set, else the
 * one built in this package (for the Node that ran the install) and the prebuilt one for this
 * Node's ABI.
 */
export function acceleratorCandidates(): string[] {
  const fromEnv = process.env['PERCPU_ACCEL'];
  if (fromEnv) return [fromEnv];
  const accel = path.join(PACKAGE_ROOT, 'native', 'accel');
  return [
    path.join(accel, 'build', 'Release', 'percpu_accel.node'),
    path.join(accel, 'prebuilds', `linux-${process.arch}`, `percpu_accel.abi${process.versions.modules}.node`),
  ].filter((file) => fs.existsSync(file));
}

let accelerator: AcceleratorExports | null = null;

function loadAccelerator(): FastPathInfo {
  const here = `Node ${process.versions.node} (ABI ${process.versions.modules}, V8 ${process.versions.v8})`;
  if (process.env['PERCPU_FAST'] === '0') {
    return { active: false, path: null, reason: 'Node-API (PERCPU_FAST=0)', fastOps: {} };
  }
  const refusals: string[] = [];
  for (const candidate of acceleratorCandidates()) {
    let accel: AcceleratorExports;
    try {
      accel = requireNode(candidate) as AcceleratorExports;
    } catch (error) {
      // Node refuses an accelerator built for another ABI before any of its code runs.
      refusals.push(`${candidate} refused by Node: ${loadRefusal(error)}`);
      continue;
    }
    if (accel.nodeAbi !== process.versions.modules || v8Line(accel.v8Version) !== v8Line(process.versions.v8)) {
      refusals.push(`${candidate} was built for Node ${accel.nodeVersion} (ABI ${accel.nodeAbi}, V8 ${accel.v8Version})`);
      continue;
    }
    const refused = native.attachAccelerator(fs.realpathSync(candidate));
    if (refused !== null) {
      refusals.push(refused);
      continue;
    }
    accelerator = accel;
    return {
      active: true,
      path: candidate,
      reason: `the accelerator for Node ${accel.nodeVersion} (ABI ${accel.nodeAbi}, V8 ${accel.v8Version})`,
      fastOps: Object.freeze(Object.fromEntries(Object.entries(accel.fastOps).map(([type, ops]) => [type, Object.freeze(ops)]))),
    };
  }
  const why = refusals.length > 0 ? refusals.join('; ') : `no accelerator is built for ${here}`;
  return { active: false, path: null, reason: `Node-API (${why})`, fastOps: {} };
}

/** How num()'s ops run in this process: through the accelerator or the binding's Node-API callbacks. */
export const fastPath: FastPathInfo = Object.freeze(loadAccelerator());

/**
 * This thread's count of num() op calls that did not complete in a fast C function (calls from
 * unoptimized code, and calls that left the fast path: a value to convert exactly, an error), or
 * null on the Node-API path. The tests read it to prove that optimized code takes the fast path.
 */
export function slowPathCalls(): number | null {
  return accelerator === null ? null : accelerator.slowCalls();
}

let simulator: NativeSimulator | undefined;

/**
 * The race demo's native loops (percpu_sim.node), loaded on first use: a build made in this
 * package, else the prebuilt one for this platform. Throws with what to do when there is neither.
 */
export function loadSimulator(): NativeSimulator {
  if (simulator !== undefined) return simulator;
  const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
  let file: string;
  try {
    file = process.env['PERCPU_SIM_ADDON'] || nodeGypBuild.path(path.join(PACKAGE_ROOT, 'native', 'sim'));
  } catch (cause) {
    throw new Error(
      `percpu's simulator loops (percpu_sim.node) are not built for linux-${process.arch} (${firstLine(cause)}). ` +
        'Run `npm rebuild percpu` with python3, make and a C++20 compiler.',
      { cause },
    );
  }
  const sim = requireNode(file) as NativeSimulator;
  sim.init(nativeErrorClasses);
  sim.attach(addonPath);
  return (simulator = sim);
}
