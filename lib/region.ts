/**
 * The per-CPU region and the binding of threads to CPUs.
 */
import * as os from 'node:os';
import { native, type NativeStats } from './native';

export interface RegionOptions {
  /** Number of CPUs (areas). Default: `os.availableParallelism()`. */
  cpus?: number;
  /** Bytes per CPU area, rounded up to whole pages. Default: 64 KiB. */
  areaSize?: number;
}

export interface RegionInfo {
  readonly cpus: number;
  readonly areaSize: number;
  /** How GS bases are set on this machine: `wrgsbase` when the kernel allows FSGSBASE, else `arch_prctl`. */
  readonly gsMethod: 'wrgsbase' | 'arch_prctl';
}

export const DEFAULT_AREA_SIZE = 64 * 1024;

/**
 * Sets up the process's per-CPU region: one page-aligned area per CPU, mapped until the process
 * exits. Calling it again with the same sizes returns the same region; other sizes throw
 * ConflictError. CpuSet.start() calls it for you.
 */
export function setup(options: RegionOptions = {}): RegionInfo {
  const existing = native.region();
  const cpus = options.cpus ?? existing?.cpus ?? os.availableParallelism();
  return native.setup(cpus, options.areaSize ?? existing?.areaSize ?? DEFAULT_AREA_SIZE);
}

/** The region, or null before setup(). */
export function region(): RegionInfo | null {
  return native.region();
}

/**
 * Binds the calling thread to `cpu`: saves its GS base and points GS at that CPU's area.
 * Throws CpuTakenError if another thread holds the CPU, AlreadyBoundError if this one is bound.
 */
export function bind(cpu: number): void {
  native.bind(cpu);
}

/** Unbinds the calling thread and restores its previous GS base. Throws GuardError while a CpuGuard is held. */
export function unbind(): void {
  native.unbind();
}

/** The CPU this thread is bound to (read through GS, like smp_processor_id()), or null if unbound. */
export function thisCpu(): number | null {
  const cpu = native.thisCpu();
  return cpu < 0 ? null : cpu;
}

export type AllocatorStats = NativeStats;

/** Allocator figures: live allocations (statics included), bytes in use, free space. */
export function stats(): AllocatorStats {
  return native.stats();
}
