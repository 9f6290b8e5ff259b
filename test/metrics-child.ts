/**
 * A process of its own for the metrics test that fills the per-CPU area (a region is per process,
 * and the test run's must keep its room): one page a CPU, histograms of 256 buckets until one does
 * not fit. Prints what happened as one JSON line.
 */
import { setup, stats } from '../lib';
import { PerCpuHistogram } from '../lib/metrics';

setup({ cpus: 2, areaSize: 4096 });
const buckets = Array.from({ length: 256 }, (_, i) => i);
const report = { made: 0, freeBefore: 0, liveBefore: 0, liveAfter: 0, error: '', code: '', message: '' };
try {
  for (;;) {
    report.freeBefore = stats().largestFree;
    report.liveBefore = stats().liveAllocations;
    new PerCpuHistogram({ name: `full_${report.made}`, help: '', buckets });
    report.made++;
  }
} catch (error) {
  Object.assign(report, { error: (error as Error).name, code: (error as { code: string }).code, message: (error as Error).message });
}
report.liveAfter = stats().liveAllocations;
console.log(JSON.stringify(report));
