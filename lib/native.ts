/**
 * The one loader of the native addon. Everything else imports `native` from here.
 */
import * as path from 'node:path';
import { nativeErrorClasses } from './errors';

/** A native per-CPU handle: one thread's reference to an allocation (native/addon.cc). */
export interface NativeHandle {
  read(): number | bigint;
  write(value: number | bigint): void;
  readRemote(cpu: number): number | bigint;
  writeRemote(cpu: number, value: number | bigint): void;
  sum(): number | bigint;
  ops(): Record<string, (...values: (number | bigint)[]) => number | bigint | undefined>;
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

/** The scheduler's native face (native/scheduler.cc, issue 8); lib/scheduler.ts and lib/race.ts wrap it. */
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
  /** method: 0 gs, 1 raw, 2 guard, 3 irqsave; `counter` names a u64 static; runs until stop[0] != 0 or maxMs. */
  raceLoop(method: number, counter: string, stop: Int32Array, maxMs: number, windowNs: number): { iterations: number; irqAdds: number };
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
  /** The op table (native/ops.h), in order. */
  ops: { name: string; operands: number; returns: boolean }[];
  /** The backends this build has: ['gs', 'generic'] on Linux x86-64, ['generic'] elsewhere. */
  backends: BackendName[];
  /** True when num()'s ops run through the V8 fast path (fast_ops.h), false on Node-API alone. */
  fastOps: boolean;
  /** How the gs backend sets GS bases here (wrgsbase needs no system call); null without gs. */
  gsMethod: 'wrgsbase' | 'arch_prctl' | null;
  emptyCall(...args: unknown[]): void;
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
  redeem(ticket: number): NativeHandle;
  dropTicket(ticket: number): boolean;
  stats(): NativeStats;
  sched: NativeScheduler;
}

/**
 * Where the addon is loaded from: node-gyp's build/Release/percpu.node, unless PERCPU_ADDON names
 * another build of the same sources (the cmake-js and sanitizer builds run the suite that way).
 */
export const addonPath =
  process.env['PERCPU_ADDON'] || path.join(__dirname, '..', '..', 'build', 'Release', 'percpu.node');

/**
 * Loads the addon, or throws one error that says what was tried and what to do. Linux only: on
 * x86-64 the addon has the gs and generic backends, on other architectures the generic one.
 */
function load(): NativeAddon {
  if (process.platform !== 'linux') {
    throw new Error(
      `percpu supports Linux only (this is ${process.platform}-${process.arch}): its per-CPU areas, thread binding ` +
        'and GS instructions use Linux system calls. Nothing was loaded.',
    );
  }
  let addon: NativeAddon;
  try {
    addon = require(addonPath) as NativeAddon;
  } catch (cause) {
    const tried = process.env['PERCPU_ADDON'] ? `${addonPath} (from PERCPU_ADDON)` : addonPath;
    throw new Error(
      `percpu could not load its native addon from ${tried}: ${String((cause as Error).message).split('\n')[0]}\n` +
        'It is built from source when the package installs. To build it again run `npm rebuild percpu` ' +
        '(inside the package itself: `npm run build`); that needs python3, make and a C++20 compiler ' +
        '(g++ 10 or newer). If the install ran with --ignore-scripts, run `npm rebuild percpu` once.',
      { cause },
    );
  }
  addon.init(nativeErrorClasses);
  return addon;
}

export const native: NativeAddon = load();
