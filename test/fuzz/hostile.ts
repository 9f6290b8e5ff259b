/**
 * Hostile prototype setters (issue 13, finding 3): accessors on Object.prototype and
 * Array.prototype under the names of every property percpu's results have. Each calls back into
 * percpu (the allocator's stats, the region, the scheduler's stats, this CPU: each takes a native
 * lock), then defines the property on its target as a plain [[Set]] would, so that code around it
 * works on. A result filled with property sets while a native lock is held would run one under
 * that lock and deadlock; percpu builds its results with own data properties, so none runs
 * inside a percpu call. The engine counts the setters that run while a call is under way.
 */
import * as lib from '../../lib';
import * as libSim from '../../lib/sim';

export interface HostileSetters {
  /** True while the engine is inside a percpu call. */
  inside: boolean;
  /** Setter runs while `inside`: each one is a failure. */
  hits: number;
  /** Setter runs in all (the fuzzer's own code meets them too), to show they are armed. */
  runs: number;
  readonly names: readonly string[];
}

/** The names percpu's results use, read from the results themselves (before anything is installed). */
function resultNames(): string[] {
  const names = new Set<string>([
    ...Object.keys(lib.stats()),
    ...Object.keys(lib.region() ?? {}),
    ...Object.keys(libSim.schedulerStats()),
    'migrate', 'irq', 'sigrtmin', // schedulerStats().signals
    ...Object.keys(libSim.threadSchedulerStats()),
    ...lib.NUMERIC_OPS, // the ops object
    'name', 'size', 'big', 'operands', 'returns', // the type and op tables
    'percpu', 'type', 'ticket', // share() (object literals: defined, never set)
    'iterations', 'irqAdds', // the race loops
  ]);
  return [...names];
}

/** Installs the setters on this thread's realm (each worker has its own prototypes). */
export function installHostileSetters(): HostileSetters {
  const names = resultNames();
  let reentering = false;
  const state: HostileSetters = {
    inside: false,
    hits: 0,
    runs: 0,
    names,
  };
  const install = (target: object, name: string) =>
    Object.defineProperty(target, name, {
      configurable: true,
      set(this: object, value: unknown) {
        state.runs++;
        if (state.inside) state.hits++;
        if (!reentering) {
          reentering = true;
          try {
            lib.stats(); // the allocator's lock
            lib.region();
            libSim.schedulerStats(); // the scheduler's locks
            lib.thisCpu();
          } finally {
            reentering = false;
          }
        }
        Object.defineProperty(this, name, { value, writable: true, enumerable: true, configurable: true });
      },
    });
  for (const name of names) install(Object.prototype, name);
  for (const index of INDICES) install(Array.prototype, index);
  return state;
}

/** Array indices a result array uses (readPair's [lo, hi], the scheduler's CPU list). */
const INDICES = ['0', '1', '2', '3'];
