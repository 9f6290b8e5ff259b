/**
 * A plain worker_threads Worker, not one of a CpuSet's CPUs: it binds only if asked to, does
 * what its workerData asks, and posts one reply to its parent. Run it with runPlainWorker()
 * from ./helpers.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { CpuGuard, DynamicPerCpu, bind, revive, thisCpu, unbind, type SharedPerCpu } from '../lib';
import { caught, readThisSlot, type AnyVar, type ErrorInfo, type Value } from './tasks';

export type PlainWorkerRequest =
  /** Never binds: tries ops on a revived variable and reports what they threw. */
  | { mode: 'unbound'; shared: SharedPerCpu; operand: Value }
  /** Tries to bind each of `tryFirst`, then binds `cpu`, reads and adds to its slot. */
  | { mode: 'bind'; cpu: number; tryFirst: number[]; shared: SharedPerCpu; add: Value; unbind: boolean }
  /** Binds `cpu`, then serves `{ shared, amount }` requests on `port` until it gets 'close'. */
  | { mode: 'channel'; cpu: number; port: MessagePort };

export interface UnboundReply {
  mode: 'unbound';
  thisCpu: number | null;
  add: ErrorInfo | null;
  sub: ErrorInfo | null;
  guard: ErrorInfo | null;
  unbind: ErrorInfo | null;
  values: Value[];
  sum: Value;
  refCountInside: number;
}

export interface BindReply {
  mode: 'bind';
  tried: (ErrorInfo | null)[];
  bound: ErrorInfo | null;
  thisCpu: number | null;
  guardCpu: number;
  mine: Value;
  after: Value;
  values: Value[];
  thisCpuAfter: number | null;
}

export interface ChannelReply {
  mode: 'channel';
  bound: number | null;
  served: number;
  thisCpuAfter: number | null;
}

export type PlainWorkerReply = UnboundReply | BindReply | ChannelReply;

/** A request served on the channel, and its answer. */
export interface ChannelRequest {
  shared: SharedPerCpu;
  amount: Value;
}
export interface ChannelAnswer {
  cpu: number | null;
  mine: Value;
  refCountInside: number;
}

const request = workerData as PlainWorkerRequest;
const reply = (message: PlainWorkerReply) => parentPort!.postMessage(message);

function release(v: AnyVar): void {
  if (v instanceof DynamicPerCpu) v.release();
}

switch (request.mode) {
  case 'unbound': {
    const v = revive(request.shared) as AnyVar;
    const ops = v.num() as unknown as Record<'add' | 'sub', (value: Value) => void>;
    reply({
      mode: 'unbound',
      thisCpu: thisCpu(),
      add: caught(() => ops.add(request.operand)),
      sub: caught(() => ops.sub(request.operand)),
      guard: caught(() => new CpuGuard()),
      unbind: caught(() => unbind()),
      values: v.values() as Value[],
      sum: v.sum() as Value,
      refCountInside: v instanceof DynamicPerCpu ? v.refCount : -1,
    });
    release(v);
    break;
  }
  case 'bind': {
    const tried = request.tryFirst.map((cpu) => caught(() => bind(cpu)));
    const bound = caught(() => bind(request.cpu));
    const v = revive(request.shared) as AnyVar;
    const guard = new CpuGuard();
    const guardCpu = guard.cpu;
    guard.release();
    const mine = readThisSlot(v);
    (v.num() as unknown as Record<'add', (value: Value) => void>).add(request.add);
    const after = readThisSlot(v);
    const values = v.values() as Value[];
    const cpu = thisCpu();
    release(v);
    if (request.unbind) unbind();
    // Without unbind, the thread exits bound: its CPU must be given back as it ends.
    reply({ mode: 'bind', tried, bound, thisCpu: cpu, guardCpu, mine, after, values, thisCpuAfter: thisCpu() });
    break;
  }
  case 'channel': {
    const { port } = request;
    bind(request.cpu);
    const bound = thisCpu();
    let served = 0;
    port.on('message', (message: ChannelRequest | 'close') => {
      if (message === 'close') {
        unbind();
        port.close();
        reply({ mode: 'channel', bound, served, thisCpuAfter: thisCpu() });
        return;
      }
      const v = revive(message.shared) as AnyVar;
      (v.num() as unknown as Record<'add', (value: Value) => void>).add(message.amount);
      const answer: ChannelAnswer = {
        cpu: thisCpu(),
        mine: readThisSlot(v),
        refCountInside: v instanceof DynamicPerCpu ? v.refCount : -1,
      };
      release(v);
      served++;
      port.postMessage(answer);
    });
    break;
  }
}
