/**
 * DataParallelTrainer: replicas in worker threads must train exactly like one `model.trainOnBatch`
 * with `tf.train.adam` (up to float32 rounding: the gradients are summed in a different order and
 * Adam runs in double precision), keep identical weights, and cope with uneven or empty shards.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { DataParallelTrainer, shardBounds } from '../src/data-parallel.ts';
import { registerWasmTrainingKernels } from '../src/kernels.ts';

const LR = 0.01;

function smallNet(batchNorm = false): tf.LayersModel {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [10, 10, 3],
        filters: 4,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: init(1),
      }),
      ...(batchNorm ? [tf.layers.batchNormalization({ momentum: 0.5 })] : []),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 5, kernelSize: 3, strides: 2, activation: 'relu', kernelInitializer: init(2) }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: init(3) }),
    ],
  });
}

function data(n: number): { xs: tf.Tensor4D; ys: tf.Tensor2D } {
  return {
    xs: tf.randomUniform([n, 10, 10, 3], 0, 1, 'float32', 5) as tf.Tensor4D,
    ys: tf
      .oneHot(
        tf.tensor1d(
          Array.from({ length: n }, (_, i) => (i * 7) % 3),
          'int32',
        ),
        3,
      )
      .toFloat() as tf.Tensor2D,
  };
}

function maxDiff(a: readonly (Float32Array | Int32Array | Uint8Array)[], b: readonly (Float32Array | Int32Array | Uint8Array)[]): number {
  let d = 0;
  a.forEach((p, i) => {
    const q = b[i]!;
    for (let j = 0; j < p.length; j++) d = Math.max(d, Math.abs(p[j]! - q[j]!));
  });
  return d;
}

const weightsOf = (m: tf.LayersModel) => m.weights.map((w) => w.read().dataSync() as Float32Array);

before(async () => {
  tf.env().set('PROD', true);
  assert.ok(await tf.setBackend('wasm'));
  registerWasmTrainingKernels();
});

describe('DataParallelTrainer', () => {
  const open: DataParallelTrainer[] = [];
  after(async () => {
    for (const t of open) await t.close();
  });

  for (const replicas of [2, 3]) {
    test(`${replicas} replicas train like model.trainOnBatch with tf.train.adam (batch 9: uneven shards)`, async () => {
      const reference = smallNet();
      reference.compile({ optimizer: tf.train.adam(LR), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
      const model = smallNet();
      const trainer = await DataParallelTrainer.create(model, { adam: { learningRate: LR }, replicas });
      open.push(trainer);
      assert.equal(trainer.replicas, replicas);
      const { xs, ys } = data(9);
      for (let step = 0; step < 4; step++) {
        const [refLoss, refAcc] = (await reference.trainOnBatch(xs, ys)) as number[];
        const [loss, acc] = await trainer.trainOnBatch(xs, ys);
        assert.ok(Math.abs(loss - refLoss!) < 1e-5, `step ${step}: loss ${loss} vs ${refLoss}`);
        assert.ok(Math.abs(acc - refAcc!) < 1e-6, `step ${step}: accuracy ${acc} vs ${refAcc}`);
      }
      assert.ok(maxDiff(weightsOf(model), weightsOf(reference)) < 1e-5, 'weights drift from the single-thread reference');
      for (const w of await trainer.workerWeights()) assert.equal(maxDiff(w, weightsOf(model)), 0, 'a worker holds other weights');
      tf.dispose([xs, ys]);
    });
  }

  test('steps leak no tensors on the calling thread', async () => {
    const model = smallNet(true);
    const trainer = await DataParallelTrainer.create(model, { adam: { learningRate: LR }, replicas: 2 });
    open.push(trainer);
    const { xs, ys } = data(8);
    await trainer.trainOnBatch(xs, ys);
    const before = tf.memory();
    for (let step = 0; step < 4; step++) await trainer.trainOnBatch(xs, ys);
    assert.equal(tf.memory().numTensors, before.numTensors);
    assert.equal(tf.memory().numBytes, before.numBytes);
    tf.dispose([xs, ys]);
  });

  test('a batch smaller than the replica count leaves a shard empty', async () => {
    const model = smallNet();
    const trainer = await DataParallelTrainer.create(model, { adam: { learningRate: LR }, replicas: 2 });
    open.push(trainer);
    const { xs, ys } = data(1);
    const [loss] = await trainer.trainOnBatch(xs, ys);
    assert.ok(Number.isFinite(loss) && loss > 0);
    tf.dispose([xs, ys]);
  });

  test('batch norm: moving statistics are averaged and identical in every replica; loss falls', async () => {
    const model = smallNet(true);
    const trainer = await DataParallelTrainer.create(model, { adam: { learningRate: LR }, replicas: 2 });
    open.push(trainer);
    const movingBefore = model.nonTrainableWeights.map((w) => w.read().dataSync().slice());
    const { xs, ys } = data(12);
    const losses: number[] = [];
    for (let step = 0; step < 8; step++) losses.push((await trainer.trainOnBatch(xs, ys))[0]);
    assert.ok(losses[7]! < losses[0]!, `loss ${losses[0]} -> ${losses[7]}`);
    const movingAfter = model.nonTrainableWeights.map((w) => w.read().dataSync());
    assert.ok(maxDiff(movingBefore, movingAfter) > 0, 'moving statistics did not move');
    for (const w of await trainer.workerWeights()) assert.equal(maxDiff(w, weightsOf(model)), 0);
    tf.dispose([xs, ys]);
  });

  test('learning rate changes apply from the next step; closed trainers refuse to train', async () => {
    const model = smallNet();
    const trainer = await DataParallelTrainer.create(model, { adam: { learningRate: LR }, replicas: 2 });
    const { xs, ys } = data(4);
    trainer.learningRate = 0;
    const before = weightsOf(model).map((w) => w.slice());
    await trainer.trainOnBatch(xs, ys);
    assert.equal(maxDiff(before, weightsOf(model)), 0, 'learning rate 0 changed the weights');
    await trainer.close();
    await trainer.close();
    await assert.rejects(trainer.trainOnBatch(xs, ys), /closed/);
    tf.dispose([xs, ys]);
  });
});

test('shardBounds splits a batch in proportion to the weights, one example at least each', () => {
  assert.deepEqual(shardBounds(9, [1, 1]), [
    [0, 5],
    [5, 9],
  ]);
  assert.deepEqual(shardBounds(64, [1, 1]), [
    [0, 32],
    [32, 64],
  ]);
  assert.deepEqual(shardBounds(10, [1, 3]), [
    [0, 3],
    [3, 10],
  ]);
  assert.deepEqual(shardBounds(8, [1, 1000]), [
    [0, 1],
    [1, 8],
  ]);
  assert.deepEqual(shardBounds(1, [1, 1, 1]), [
    [0, 1],
    [1, 1],
    [1, 1],
  ]);
});
