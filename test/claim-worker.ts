/**
 * A plain worker_threads Worker that claims a CPU when told to (test/claim.test.ts): it answers
 * each request from its parent with one reply, and ends on 'end' without giving its CPU back.
 */
import { parentPort } from 'node:worker_threads';
import { CpuGuard, claimCpu, getStaticPerCpu, releaseCpu, thisCpu } from '../lib';
import { caught, type ErrorInfo } from './tasks';

export type ClaimRequest =
  | { do: 'claim' }
  | { do: 'release' }
  /** Adds `amount` to this CPU's slot of the u64 static `name`. */
  | { do: 'add'; name: string; amount: bigint }
  /** releaseCpu() while a CpuGuard is held. */
  | { do: 'releaseInGuard' }
  | { do: 'end' };

export type ClaimReply = { cpu: number | null; error: ErrorInfo | null; thisCpu: number | null };

const port = parentPort!;

port.on('message', (request: ClaimRequest) => {
  let cpu: number | null = null;
  const run = (fn: () => number | null) => caught(() => (cpu = fn()));
  let error: ErrorInfo | null = null;
  switch (request.do) {
    case 'claim':
      error = run(claimCpu);
      break;
    case 'release':
      error = run(releaseCpu);
      break;
    case 'add':
      error = run(() => {
        getStaticPerCpu(request.name, 'u64').num().add(request.amount);
        return thisCpu();
      });
      break;
    case 'releaseInGuard': {
      const guard = new CpuGuard();
      error = run(releaseCpu);
      guard.release();
      break;
    }
    case 'end':
      port.close();
      return;
  }
  port.postMessage({ cpu, error, thisCpu: thisCpu() } satisfies ClaimReply);
});
