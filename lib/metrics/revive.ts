/**
 * Metrics across threads: share() gives plain data, reviveMetric() defines the same metric by
 * name on another thread (the same slots).
 */
import { PerCpuTypeError } from '../index';
import { PerCpuCounter } from './counter';
import { PerCpuGauge } from './gauge';
import { PerCpuHistogram } from './histogram';
import type { SharedPerCpuMetric } from './metric';

/** True for what a metric's `share()` returns, after any structured clone. */
export function isSharedPerCpuMetric(value: unknown): value is SharedPerCpuMetric {
  const kind = (value as { percpuMetric?: unknown } | null)?.percpuMetric;
  return typeof value === 'object' && value !== null && (kind === 'counter' || kind === 'gauge' || kind === 'histogram');
}

/** The metric `shared` describes, on this thread: the same name, so the same slots. */
export function reviveMetric(shared: SharedPerCpuMetric): PerCpuCounter | PerCpuGauge | PerCpuHistogram {
  if (!isSharedPerCpuMetric(shared)) throw new PerCpuTypeError('reviveMetric() takes what a metric\'s share() returned');
  switch (shared.percpuMetric) {
    case 'counter':
      return new PerCpuCounter(shared);
    case 'gauge':
      return new PerCpuGauge(shared);
    case 'histogram':
      return new PerCpuHistogram(shared);
  }
}
