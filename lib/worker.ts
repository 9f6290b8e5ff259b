/**
 * The body of a worker thread standing in for a CPU. It binds its CPU before it loads any user
 * code, then runs tasks one after another, in the order they were sent.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { native } from './native';
import { decodeArgs, runHere, serializeError, type FromWorker, type ToWorker } from './task';

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
      native.unbind();
      port.close();
    });
    return;
  }
  const { id, task, args: encoded } = message;
  queue = queue.then(async () => {
    try {
      const { args, borrowed } = decodeArgs(encoded);
      const value = await runHere(task, args, borrowed);
      try {
        send({ type: 'done', id, ok: true, value });
      } catch (error) {
        send({ type: 'done', id, ok: false, error: serializeError(error) }); // result not cloneable
      }
    } catch (error) {
      send({ type: 'done', id, ok: false, error: serializeError(error) });
    }
  });
});

send({ type: 'ready', cpu });
