/**
 * The body of a worker thread standing in for a CPU. It loads tsx first when the main thread asked
 * for it (./typescript), binds its CPU when the set says so (once the region is set up, and the
 * set's calling thread is bound to CPU 0 if it takes part), then runs tasks one after another, in
 * the order they were sent, through runTask, as the calling thread runs CPU 0's when it is CPU 0.
 * No task runs on it before it is bound; the preloads of its execArgv (`--require`, `--import`)
 * do, as Node runs them before this script.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { native } from '../core/native';
import { runTask, serializeError, type FromWorker, type ToWorker, type WorkerCpuData } from './task';
import { registerTsx } from './typescript';

const port = parentPort!;
const { cpu, tsx } = workerData as WorkerCpuData;
const send = (message: FromWorker) => port.postMessage(message);

// Messages are handled one after another, after tsx is registered.
let queue: Promise<unknown> = tsx === undefined ? Promise.resolve() : registerTsx(tsx);
let startFailure: unknown;
queue = queue.catch((error: unknown) => (startFailure = error));

function bind(): void {
  if (startFailure !== undefined) return send({ type: 'start-failed', error: serializeError(startFailure) });
  try {
    native.bind(cpu);
  } catch (error) {
    return send({ type: 'start-failed', error: serializeError(error) });
  }
  send({ type: 'ready' });
}

port.on('message', (message: ToWorker) => {
  if (message.type === 'bind') {
    queue = queue.then(bind);
    return;
  }
  if (message.type === 'close') {
    queue = queue.then(() => {
      if (native.thisCpu() >= 0) native.unbind(); // wherever the scheduler moved this thread
      port.close();
    });
    return;
  }
  const { id } = message;
  queue = queue.then(async () => {
    const outcome = await runTask(message);
    if (!outcome.ok) return send({ type: 'done', id, cpu: outcome.cpu, ok: false, error: serializeError(outcome.error) });
    try {
      send({ type: 'done', id, cpu: outcome.cpu, ok: true, value: outcome.value });
    } catch (error) {
      send({ type: 'done', id, cpu: outcome.cpu, ok: false, error: serializeError(error) }); // result not cloneable
    }
  });
});
