/**
 * Worker side of {@link DataParallelTrainer} (data-parallel.ts): one replica on its own WASM backend.
 * Messages are handled strictly in arrival order; every request gets exactly one reply, which the
 * main thread matches by order.
 */
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { FromWorker, ToWorker } from './data-parallel.ts';
import { registerWasmTrainingKernels } from './kernels.ts';
import { Replica } from './replica.ts';

const port = parentPort;
if (port === null) throw new Error('data-parallel-worker.ts must run in a worker thread');

tf.env().set('PROD', true);
let replica: Replica | null = null;
let queue: Promise<void> = Promise.resolve();

const reply = (m: FromWorker) => port.postMessage(m);

async function handle(m: ToWorker): Promise<void> {
  switch (m.type) {
    case 'init': {
      if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend failed to initialise in a worker');
      registerWasmTrainingKernels(m.kernelOptions);
      const model = await tf.models.modelFromJSON({ modelTopology: m.modelTopology as tf.io.ModelJSON['modelTopology'] });
      replica = new Replica(model, m.index, m.replicas, m.shared, m.adam);
      replica.loadWeights();
      return reply({ type: 'ready' });
    }
    case 'step': {
      const r = need(replica);
      const xs = m.xs === null ? null : tf.tensor(m.xs, m.xsShape, 'float32');
      const ys = m.ys === null ? null : tf.tensor(m.ys, m.ysShape, 'float32');
      try {
        const t0 = performance.now();
        r.loadWeights();
        const { lossSum, correct } = r.computeGradients(xs, ys, m.batchSize);
        return reply({ type: 'grads', lossSum, correct, ms: performance.now() - t0 });
      } finally {
        tf.dispose([xs, ys].filter((t): t is tf.Tensor => t !== null));
      }
    }
    case 'update':
      need(replica).update(m.learningRate);
      return reply({ type: 'updated' });
    case 'getWeights':
      need(replica).loadWeights();
      return reply({
        type: 'weights',
        weights: need(replica).model.weights.map((w) => ({ shape: [...w.shape] as number[], data: w.read().dataSync() as Float32Array })),
      });
  }
}

function need(r: Replica | null): Replica {
  if (r === null) throw new Error("worker received a request before 'init'");
  return r;
}

port.on('message', (m: ToWorker) => {
  queue = queue
    .then(() => handle(m))
    .catch((e: unknown) => reply({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) }));
});
