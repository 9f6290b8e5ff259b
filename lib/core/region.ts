/**
 * The per-CPU region and the binding of threads to CPUs.
 */
import * as os from 'node:os';
import { PerCpuTypeError, describeThrown } from './errors';
import { native, type BackendChoice, type BackendName, type NativeStats } from './native';

export type { BackendChoice, BackendName };

export interface RegionOptions {
  /** Number of CPUs (areas). Default: `os.availableParallelism()`. */
  cpus?: number;
  /** Bytes per CPU area, rounded up to whole pages. Default: 64 KiB. */
  areaSize?: number;
  /**
   * How ops reach this CPU's slot. `gs`: one GS-relative instruction (Linux x86-64; throws
   * BackendUnavailableError where it cannot work). `generic`: this CPU's pointer from the thread's
   * bound area, then the plain op, with preemption held off in between (works anywhere). `auto`:
   * gs where it works, else generic. Default: the PERCPU_BACKEND environment variable, else `auto`.
   */
  backend?: BackendChoice;
}

export interface RegionInfo {
  readonly cpus: number;
  readonly areaSize: number;
  /** The backend every op of this process uses. */
  readonly backend: BackendName;
  /** Why this backend, in one line: who asked for it, or why auto fell back from gs. */
  readonly backendReason: string;
  /** True when `auto` wanted gs and could not use it. */
  readonly fellBack: boolean;
  /** How GS bases are set (gs backend only): `wrgsbase` when the kernel allows FSGSBASE, else `arch_prctl`. */
  readonly gsMethod: 'wrgsbase' | 'arch_prctl' | null;
}

/** The backends this build of the addon has: `['gs', 'generic']` on Linux x86-64, `['generic']` elsewhere. */
export const BACKENDS: readonly BackendName[] = Object.freeze([...native.backends]);

export const DEFAULT_AREA_SIZE = 64 * 1024;

/** The most CPUs a region can have (kMaxCpus, native/core/region.h). */
export const MAX_CPUS = 1024;

/**
 * Sets up the process's per-CPU region: one page-aligned area per CPU, mapped until the process
 * exits. Calling it again with the same sizes returns the same region; other sizes throw
 * ConflictError. CpuSet.start() calls it for you.
 */
export function setup(options: RegionOptions = {}): RegionInfo {
  if (typeof options !== 'object' || options === null) throw new PerCpuTypeError('setup() takes an options object');
  const existing = native.region();
  const cpus = options.cpus ?? existing?.cpus ?? os.availableParallelism();
  const areaSize = options.areaSize ?? existing?.areaSize ?? DEFAULT_AREA_SIZE;
  return native.setup(cpus, areaSize, ...backendChoice(options, existing !== null));
}

// The backend asked for and who asked: the option, else (for a new region) PERCPU_BACKEND, else
// auto. An existing region keeps its backend unless one is named explicitly.
function backendChoice(options: RegionOptions, exists: boolean): [BackendChoice, string] {
  if (options.backend !== undefined) {
    if (typeof options.backend !== 'string') {
      throw new PerCpuTypeError(`backend must be 'auto', 'gs' or 'generic', not ${describeThrown(options.backend)}`);
    }
    return [options.backend, `setup({ backend: '${options.backend}' })`];
  }
  const fromEnv = process.env['PERCPU_BACKEND'];
  if (!exists && fromEnv !== undefined && fromEnv !== '') return [fromEnv as BackendChoice, `PERCPU_BACKEND=${fromEnv}`];
  return ['auto', 'auto'];
}

/** One line for logs: `gs (auto: GS works here; GS base set with arch_prctl)`. */
export function describeBackend(info: RegionInfo): string {
  return `${info.backend} (${info.backendReason})`;
}

/** The region, or null before setup(). */
export function region(): RegionInfo | null {
  return native.region();
}

/**
 * Binds the calling thread to `cpu`. On the gs backend it saves the thread's GS base and points GS
 * at that CPU's area; on the generic backend it records the area in thread-local state.
 * Throws CpuTakenError if another thread holds the CPU, AlreadyBoundError if this one is bound.
 */
export function bind(cpu: number): void {
  native.bind(cpu);
}

/** Unbinds the calling thread (restoring its previous GS base on gs). Throws GuardError while a CpuGuard is held. */
export function unbind(): void {
  native.unbind();
}

/**
 * The CPU this thread is bound to, read from offset 0 of its area through the backend (`%gs:0` on
 * gs), like smp_processor_id(); null if unbound.
 */
export function thisCpu(): number | null {
  const cpu = native.thisCpu();
  return cpu < 0 ? null : cpu;
}

export type AllocatorStats = NativeStats;

/** Allocator figures: live allocations (statics included), bytes in use, free space. */
export function stats(): AllocatorStats {
  return native.stats();
}
