/**
 * The body of a worker thread standing in for a CPU. It binds its CPU before it loads any user
 * code, then runs tasks one after another, in the order they were sent, each as CPU 0 runs its
 * own (runTask).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { native } from '../core/native';
import { runTask, serializeError, type FromWorker, type ToWorker } from './task';

const port = parentPort!;
const { cpu } = workerData as { cpu: number };
const send = (message: FromWorker) => port.postMessage(message);

try {
  native.bind(cpu);
} catch (error) {
  send({ type: 'bind-failed', error: serializeError(error) });
  process.exit(1);
}

let queue: Promise<void> = Promise.resolve();

port.on('message', (message: ToWorker) => {
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

send({ type: 'ready', cpu });
