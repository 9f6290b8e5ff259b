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
  ops(): Record<string, (value: number | bigint) => void>;
  clone(): NativeHandle;
  share(): number;
  release(): void;
  readonly live: boolean;
  readonly refCount: number;
  readonly offset: number;
  /** Index in the type table. */
  readonly type: number;
  readonly isStatic: boolean;
}

export interface NativeRegionInfo {
  cpus: number;
  areaSize: number;
  gsMethod: 'wrgsbase' | 'arch_prctl';
}

export interface NativeStats {
  liveAllocations: number;
  bytesInUse: number;
  freeBytes: number;
  largestFree: number;
  freeBlocks: number;
  outstandingTickets: number;
}

export interface NativeAddon {
  types: { name: string; size: number; big: boolean }[];
  ops: string[];
  backend: string;
  emptyCall(...args: unknown[]): void;
  init(errorClasses: object): void;
  setup(cpus: number, areaSize: number): NativeRegionInfo;
  region(): NativeRegionInfo | null;
  bind(cpu: number): void;
  unbind(): void;
  thisCpu(): number;
  preemptDisable(): number;
  preemptEnable(): number;
  preemptCount(): number;
  allocate(type: number): NativeHandle;
  allocateWith(type: number, value: number | bigint): NativeHandle;
  allocateFrom(type: number, values: (number | bigint)[]): NativeHandle;
  defineStatic(name: string, type: number, init: number | bigint): NativeHandle;
  getStatic(name: string): NativeHandle | null;
  redeem(ticket: number): NativeHandle;
  dropTicket(ticket: number): boolean;
  stats(): NativeStats;
}

/**
 * Where the addon is loaded from: node-gyp's build/Release/percpu.node, unless PERCPU_ADDON names
 * another build of the same sources (the cmake-js and sanitizer builds run the suite that way).
 */
export const addonPath =
  process.env['PERCPU_ADDON'] || path.join(__dirname, '..', '..', 'build', 'Release', 'percpu.node');

function load(): NativeAddon {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `percpu needs Linux on x86-64 (this is ${process.platform}-${process.arch}): ` +
        'its per-CPU ops are GS-segment-relative x86-64 instructions.',
    );
  }
  let addon: NativeAddon;
  try {
    addon = require(addonPath) as NativeAddon;
  } catch (cause) {
    throw new Error(
      `percpu could not load its native addon from ${addonPath}: ${(cause as Error).message}\n` +
        'Build it with `npm rebuild percpu` (inside this package: `npm run build`); ' +
        'that needs python3, make and a C++20 compiler (g++ 10 or newer).',
      { cause },
    );
  }
  addon.init(nativeErrorClasses);
  return addon;
}

export const native: NativeAddon = load();
