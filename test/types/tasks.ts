/** Task functions whose signatures the type tests check calls against (never run). */
import type { DynamicPerCpu, StaticPerCpu } from 'percpu';

export function count(requests: DynamicPerCpu<'u64'>): void {
  requests.num().add(1n);
}

export function addTo(counter: DynamicPerCpu<'u32'>, amount: number): number {
  counter.num().add(amount);
  return counter.readRemote(0);
}

export async function total(counter: DynamicPerCpu<'i64'>, hits: StaticPerCpu<'u8'>): Promise<{ counter: bigint; hits: number }> {
  return { counter: counter.sum(), hits: hits.sum() };
}

/** Not a function: not a task. */
export const notATask = 42;

export const ALSO_NOT_A_TASK = { run(): void {} };
