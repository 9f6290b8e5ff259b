/**
 * Run under `valgrind --tool=callgrind --toggle-collect=percpu_bench_loop_*` by bench/main.ts
 * (--callgrind): each native loop once, single thread, `iterations` times. The parent divides
 * each loop function's instruction count (Ir) by the iterations. Under valgrind GS is set with
 * arch_prctl, so the gs loop runs too.
 *
 *   node dist/bench/callgrind-child.js ITERATIONS
 */
import { bind, definePerCpu, setup, unbind } from '../lib';
import { handleOf, nativeBench, type NativeMethod } from './common';

const iterations = Number(process.argv[2] ?? 1_000_000);
const info = setup({ cpus: 1 });
bind(0);
const counter = definePerCpu('bench.callgrind', 'u64', 0n);
const methods = Object.keys(nativeBench.loops).filter((m) => m !== 'gs' || info.backend === 'gs') as NativeMethod[];
for (const method of methods) nativeBench.loop(method, handleOf(counter), iterations);
unbind();
process.stdout.write(JSON.stringify({ backend: info.backend, iterations, methods }) + '\n');
