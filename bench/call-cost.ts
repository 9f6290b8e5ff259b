/**
 * The cost of one `num().add()` from JS, as a ratio to an empty raw Node-API call, both measured
 * in this run on this thread (CPU 0). Ratios, not absolute times: these machines are noisy.
 *
 *   npm run bench            (after npm install)
 */
import { bind, DynamicPerCpu, setup, unbind } from '../lib';
import { native } from '../lib/native';

const CALLS = Number(process.env.PERCPU_BENCH_CALLS ?? 5_000_000);
const ROUNDS = 7;

function time(fn: () => void): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / CALLS;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

setup();
bind(0);
const small = DynamicPerCpu.newZero('u32');
const big = DynamicPerCpu.newZero('u64');
const empty = native.emptyCall;

const methods: Record<string, () => void> = {
  'empty Node-API call': () => {
    for (let i = 0; i < CALLS; i++) empty(1);
  },
  "num().add(1) on a u32": () => {
    for (let i = 0; i < CALLS; i++) small.num().add(1);
  },
  "num().add(1n) on a u64": () => {
    for (let i = 0; i < CALLS; i++) big.num().add(1n);
  },
};

const samples: Record<string, number[]> = Object.fromEntries(Object.keys(methods).map((k) => [k, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, fn] of Object.entries(methods)) samples[name]!.push(time(fn));
  process.stderr.write(`round ${round + 1}/${ROUNDS}\r`);
}
process.stderr.write('\n');

const floor = median(samples['empty Node-API call']!);
console.log(`${CALLS} calls x ${ROUNDS} rounds, medians, single thread bound to CPU 0`);
console.log('method                     ns/call   ratio to empty call');
for (const name of Object.keys(methods)) {
  const ns = median(samples[name]!);
  console.log(`${name.padEnd(26)} ${ns.toFixed(2).padStart(7)}   ${(ns / floor).toFixed(2)}x`);
}
// Every add landed: the counters prove the loops ran.
const expected = BigInt(CALLS * ROUNDS);
if (BigInt(small.readRemote(0)) !== expected || big.readRemote(0) !== expected) {
  console.error('counters do not match the number of calls');
  process.exitCode = 1;
}
small.release();
big.release();
unbind();
