/**
 * Delta debugging (Zeller's ddmin), then a one-at-a-time pass: the shortest subsequence of a
 * failing call list that still fails, within a budget of test runs and time.
 */
export interface ShrinkBudget {
  /** Most runs of the predicate. */
  tests: number;
  /** Date.now() after which shrinking stops with the best list so far. */
  deadline: number;
}

export interface Shrunk<T> {
  items: T[];
  tests: number;
  /** False when the budget ran out before the list was 1-minimal. */
  complete: boolean;
}

export async function shrink<T>(items: readonly T[], fails: (candidate: T[]) => boolean | Promise<boolean>, budget: ShrinkBudget): Promise<Shrunk<T>> {
  let current = [...items];
  let tests = 0;
  const spent = () => tests >= budget.tests || Date.now() > budget.deadline;
  const test = async (candidate: T[]) => {
    tests++;
    return fails(candidate);
  };

  let n = 2;
  while (current.length >= 2 && !spent()) {
    const size = Math.ceil(current.length / n);
    const chunks: T[][] = [];
    for (let i = 0; i < current.length; i += size) chunks.push(current.slice(i, i + size));
    let reduced = false;
    for (const chunk of chunks) {
      if (spent()) break;
      if (chunks.length > 1 && (await test(chunk))) {
        current = chunk;
        n = 2;
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      for (let i = 0; i < chunks.length && !spent(); i++) {
        const complement = chunks.filter((_, j) => j !== i).flat();
        if (await test(complement)) {
          current = complement;
          n = Math.max(n - 1, 2);
          reduced = true;
          break;
        }
      }
    }
    if (!reduced) {
      if (n >= current.length) break;
      n = Math.min(current.length, n * 2);
    }
  }
  // One at a time, from the end: every call left is needed.
  let complete = true;
  for (let i = current.length - 1; i >= 0; i--) {
    if (spent()) {
      complete = false;
      break;
    }
    const without = current.filter((_, j) => j !== i);
    if (await test(without)) current = without;
  }
  return { items: current, tests, complete };
}
