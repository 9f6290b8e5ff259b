/**
 * A cluster worker of the metrics benchmark: prom-client's own Counter and Histogram in its
 * default registry, and prom-client's AggregatorRegistry listener, which answers the primary's
 * scrapes over the cluster IPC channel. Applies the load when the primary asks.
 */
import { AggregatorRegistry, Counter, Histogram } from 'prom-client';
import { BUCKETS, COUNTER_NAME, HISTOGRAM_NAME, applyLoad } from './metrics-load';

new AggregatorRegistry(); // in a worker: answers the primary's requests for this process's metrics
const target = {
  counter: new Counter({ name: COUNTER_NAME, help: 'Requests' }),
  histogram: new Histogram({ name: HISTOGRAM_NAME, help: 'Latency', buckets: BUCKETS }),
};

process.on('message', (message: { type?: string; n?: number }) => {
  if (message.type !== 'bench:load') return;
  applyLoad(target, message.n!);
  process.send!({ type: 'bench:loaded' });
});
process.send!({ type: 'bench:ready' });
