/**
 * What the per-CPU metrics share: their definition by name (static per-CPU variables, so that every
 * thread that defines a metric gets the same slots), the reading of every CPU's slots, the
 * reader-side baseline of drain(), the exposition and the plain-data form that crosses threads.
 */
import {
  ConflictError,
  NoSpaceError,
  NotSetUpError,
  PerCpuRangeError,
  PerCpuTypeError,
  definePerCpu,
  getStaticPerCpu,
  region,
  stats,
  type StaticPerCpu,
} from '../index';
import { formatDecimal, formatFamily, type MetricFamily, type MetricSample, type MetricType } from './exposition';

/**
 * The statics of metric `m` are named `percpu/metrics:m` (its shape) and `percpu/metrics:m/<part>`
 * (its slots). Names with this prefix are reserved for percpu/metrics.
 */
export const STATIC_PREFIX = 'percpu/metrics:';

/** The longest metric name (a static's name holds at most 256 characters: the prefix, the name and a part). */
export const MAX_NAME_LENGTH = 200;

/** The most decimals a metric may have (a u64 has 19 or 20 digits). */
export const MAX_DECIMALS = 18;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** What every metric is created with. */
export interface MetricOptions {
  /**
   * The Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`, at most 200 characters). One name is
   * one metric in the whole process: every thread that creates a metric of this name, type and
   * shape gets the same per-CPU slots.
   */
  readonly name: string;
  /** The help text of the exposition's `# HELP` line. */
  readonly help: string;
  /**
   * Values are integers counted in units of 10^-decimals of the exported unit, 0 to 18 (default 0).
   * With `decimals: 6` a metric in seconds takes microseconds, and exports `1234567` as `1.234567`,
   * exactly.
   */
  readonly decimals?: number;
}

/** How a metric is exposed to Prometheus. */
export interface ExportOptions {
  /**
   * One series per CPU, labelled `cpu="n"`, instead of one series of the total (default false).
   * Never both in one metric: Prometheus's `sum()` over the metric would count every update
   * twice. The total is `sum without (cpu) (metric)`.
   */
  readonly cpuLabel?: boolean;
}

/** A metric in plain data, for another thread: `reviveMetric()` there defines the same metric. */
export type SharedPerCpuMetric =
  | {
      readonly percpuMetric: 'counter' | 'gauge';
      readonly name: string;
      readonly help: string;
      readonly decimals: number;
    }
  | {
      readonly percpuMetric: 'histogram';
      readonly name: string;
      readonly help: string;
      readonly decimals: number;
      readonly buckets: readonly number[];
    };

/** What a drain returns: the period's total and each CPU's part of it. */
export interface Drained<V> {
  readonly total: V;
  readonly byCpu: V[];
}

/** One series of a metric: its labels and, for each part, the value read. @internal */
export interface Series {
  readonly labels: Readonly<Record<string, string>>;
  readonly values: readonly bigint[];
}

/** The sum of some bigints. */
export function sumOf(values: readonly bigint[]): bigint {
  let total = 0n;
  for (const value of values) total += value;
  return total;
}

/** A 64-bit FNV-1a hash of `text` (UTF-8): a metric's shape, as its shape static's value. */
function fnv1a64(text: string): bigint {
  let hash = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text, 'utf8')) hash = BigInt.asUintN(64, (hash ^ BigInt(byte)) * 0x100000001b3n);
  return hash;
}

/** The static of that name if there is one (of type u64). */
function findStatic(name: string): StaticPerCpu<'u64'> | null {
  try {
    return getStaticPerCpu(name, 'u64');
  } catch (error) {
    if (error instanceof PerCpuTypeError) return null; // none (or not a u64: defining it will say so)
    throw error;
  }
}

/** The options every metric has, checked and read once each. */
function readOptions(options: MetricOptions): { name: string; help: string; decimals: number } {
  if (typeof options !== 'object' || options === null) throw new PerCpuTypeError('a metric takes an options object: { name, help, ... }');
  const { name, help, decimals = 0 } = options;
  if (typeof name !== 'string' || !METRIC_NAME.test(name)) {
    throw new PerCpuTypeError(`a metric's name must match [a-zA-Z_:][a-zA-Z0-9_:]* (got ${typeof name === 'string' ? `'${name}'` : typeof name})`);
  }
  if (name.length > MAX_NAME_LENGTH) throw new PerCpuRangeError(`a metric's name has at most ${MAX_NAME_LENGTH} characters`);
  if (typeof help !== 'string') throw new PerCpuTypeError("a metric's help must be a string");
  if (!Number.isInteger(decimals)) throw new PerCpuTypeError("a metric's decimals must be an integer");
  if (decimals < 0 || decimals > MAX_DECIMALS) throw new PerCpuRangeError(`a metric's decimals must be 0 to ${MAX_DECIMALS}`);
  return { name, help, decimals };
}

/**
 * A per-CPU metric: a few static per-CPU variables ("parts") that every CPU updates in its own
 * slot, with one instruction an update on the gs backend, and that any thread reads.
 */
export abstract class PerCpuMetric {
  readonly name: string;
  readonly help: string;
  readonly decimals: number;
  /** The Prometheus type. */
  abstract readonly type: MetricType;
  /** @internal The per-CPU variables, in the order of readSlots(). */
  protected readonly parts: readonly StaticPerCpu<'u64' | 'i64'>[];
  /** @internal The region's CPU count. */
  protected readonly cpus: number;
  /** @internal Whether the slots are signed (i64): their differences are read as signed. */
  readonly signedSlots: boolean;
  readonly #shared: SharedPerCpuMetric;
  #drainBaseline: SlotBaseline | undefined;

  /**
   * Defines (or finds, when any thread defined it before) the statics of the metric. Its shape
   * static's value is a hash of the type and shape: looked up first, so that another shape under
   * the same name is a ConflictError before anything is defined. A new metric defines one static
   * a part, then the shape static last: where the shape static exists, so do the parts.
   * @internal
   */
  protected constructor(type: MetricType, options: MetricOptions, slotType: 'u64' | 'i64', partNames: readonly string[], shape: { buckets?: readonly number[] }) {
    const { name, help, decimals } = readOptions(options);
    const info = region();
    if (info === null) throw new NotSetUpError('the per-CPU region is not set up: call setup() or start a CpuSet before defining metrics');
    const shapeName = `${STATIC_PREFIX}${name}`;
    const hash = fnv1a64(JSON.stringify([type, decimals, shape.buckets ?? null]));
    const conflict = () => new ConflictError(`a per-CPU metric named '${name}' is already defined with another type, buckets or decimals`);
    const existing = findStatic(shapeName);
    if (existing !== null && existing.readRemote(0) !== hash) throw conflict();
    // A new metric needs a slot a part and one for its shape (8 bytes each, aligned): checked first,
    // so that a full area throws before any static is defined. (Another thread may allocate in
    // between; then the statics defined so far stay, as statics do, and a retry reuses them.)
    const bytes = 8 * (partNames.length + 1);
    if (existing === null && stats().largestFree < bytes + 7) {
      throw new NoSpaceError(`the per-CPU area has no room for the ${bytes} bytes of metric '${name}'`);
    }
    this.parts = partNames.map((part) => definePerCpu(`${shapeName}/${part}`, slotType, 0n));
    if (existing === null) {
      try {
        definePerCpu(shapeName, 'u64', hash);
      } catch (error) {
        throw error instanceof ConflictError ? conflict() : error; // another thread defined another shape meanwhile
      }
    }
    this.name = name;
    this.help = help;
    this.decimals = decimals;
    this.cpus = info.cpus;
    this.signedSlots = slotType === 'i64';
    this.#shared = Object.freeze({ percpuMetric: type, name, help, decimals, ...shape } as SharedPerCpuMetric);
  }

  /** @internal Every CPU's slot of every part, each read once with one aligned load: [part][cpu]. */
  readSlots(): bigint[][] {
    const cpus = this.cpus;
    return this.parts.map((part) => {
      const row = new Array<bigint>(cpus);
      for (let cpu = 0; cpu < cpus; cpu++) row[cpu] = part.readRemote(cpu) as bigint;
      return row;
    });
  }

  /** @internal Each part's total over every CPU: one sum() a part (exact, it does not wrap). */
  readTotals(): bigint[] {
    return this.parts.map((part) => part.sum() as bigint);
  }

  /** @internal The series of slots read by CPU ([part][cpu]): one per CPU, labelled, with `cpuLabel`; else their total. */
  seriesOf(slots: readonly (readonly bigint[])[], options: ExportOptions): Series[] {
    if (options.cpuLabel === true) {
      return Array.from({ length: this.cpus }, (_, cpu) => ({ labels: { cpu: String(cpu) }, values: slots.map((row) => row[cpu]!) }));
    }
    return [{ labels: {}, values: slots.map(sumOf) }];
  }

  /** @internal The series read now: by CPU with `cpuLabel`, else the totals (one call a part). */
  readSeries(options: ExportOptions): Series[] {
    return options.cpuLabel === true ? this.seriesOf(this.readSlots(), options) : [{ labels: {}, values: this.readTotals() }];
  }

  /** @internal The samples of the exposition, from series read by readSeries() or seriesOf(). */
  abstract samplesOf(series: readonly Series[]): MetricSample[];

  /** @internal A value in the exported unit, exactly. */
  protected format(value: bigint): string {
    return formatDecimal(value, this.decimals);
  }

  /** @internal Each CPU's change of each slot since this object's previous drain (see the subclasses' drain()). */
  protected drainSlots(): bigint[][] {
    return (this.#drainBaseline ??= new SlotBaseline(this)).since(true);
  }

  /**
   * The metric as Prometheus sees it, read now: each part once (its total, or with `cpuLabel`
   * each CPU's slot), so the samples of one collect() agree with each other: a histogram's
   * cumulative buckets never decrease and its `_count` is its `+Inf` bucket.
   */
  collect(options: ExportOptions = {}): MetricFamily {
    return { name: this.name, help: this.help, type: this.type, samples: this.samplesOf(this.readSeries(options)) };
  }

  /** The metric in Prometheus's text format (0.0.4), exactly: HELP, TYPE and a line a sample. */
  toPrometheus(options: ExportOptions = {}): string {
    return formatFamily(this.collect(options));
  }

  /**
   * The metric in plain data, for another thread (a task argument, postMessage): `reviveMetric()`
   * there defines the same metric by name, on the same slots. Holds no reference: nothing to release.
   */
  share(): SharedPerCpuMetric {
    return this.#shared;
  }
}

/**
 * What a counter and a gauge share: one slot a CPU, read as a total or by CPU; one sample a series.
 */
export abstract class PerCpuScalarMetric extends PerCpuMetric {
  /** The total over every CPU, exactly (see the subclass's contract for a read during updates). */
  value(): bigint {
    return this.parts[0]!.sum() as bigint;
  }

  /** Each CPU's slot, by CPU. */
  values(): bigint[] {
    return this.readSlots()[0]!;
  }

  /** @internal */
  samplesOf(series: readonly Series[]): MetricSample[] {
    return series.map(({ labels, values }) => ({ name: this.name, labels, value: this.format(values[0]!) }));
  }
}

/**
 * The reader-side baseline of drain() and of the prom-client bridge's reset(): the last value it
 * read from each CPU's slot of each part. It never writes a slot: slots are written only by their
 * own CPU, with one non-locked instruction, so a remote reset could lose an update that raced it.
 * Zero at first (every slot starts at 0).
 * @internal
 */
export class SlotBaseline {
  readonly #metric: PerCpuMetric;
  #last: bigint[][];

  constructor(metric: PerCpuMetric) {
    this.#metric = metric;
    this.#last = metric.readSlots().map((row) => row.map(() => 0n));
  }

  /**
   * Reads every slot once and returns its change since the baseline: modulo 2^64, read as signed
   * for i64 slots. With `advance` the values read become the baseline: an update lands in exactly
   * one period, the one whose read first saw it.
   */
  since(advance: boolean): bigint[][] {
    const now = this.#metric.readSlots();
    const last = this.#last;
    const bits = this.#metric.signedSlots ? BigInt.asIntN : BigInt.asUintN;
    const changes = now.map((row, part) => row.map((value, cpu) => bits(64, value - last[part]![cpu]!)));
    if (advance) this.#last = now;
    return changes;
  }
}

let compiled = 0;

/**
 * A hot method of one metric, compiled for it alone: `new Function` over `constants` (this
 * metric's op functions and the checks it calls), with a body written in this package and a
 * serial number in its name, nothing from the caller. Each call site in it then sees this
 * metric's ops only, so V8 calls them directly (the accelerator's fast path). One method shared
 * by every metric (the class's) would see every metric's ops at one call site and, past four
 * targets, take V8's generic call: about 60 ns for a counter's inc() among 8 counters, against
 * 20 ns for the one counter's own.
 */
export function compileMethod<F>(name: string, params: string, body: string, constants: Record<string, unknown>): F {
  const names = Object.keys(constants);
  const source = `return function ${name}_${compiled++}(${params}) {\n${body}\n};`;
  return new Function(...names, source)(...names.map((key) => constants[key])) as F;
}

/**
 * An amount for a slot's op, as the bigint the u64/i64 op takes: a bigint as it is (the op checks
 * its range), a number if it is a safe integer. Thrown before any slot changes.
 */
export function toSlotAmount(value: number | bigint, what: string): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new PerCpuTypeError(`${what} must be an integer (a number or a bigint)`);
  if (!Number.isSafeInteger(value)) throw new PerCpuRangeError(`${what} is beyond 2^53: pass it as a bigint to keep it exact`);
  return BigInt(value);
}
