/**
 * Folding batch norm (and ReLU) into convolutions for inference: the same outputs as the trained
 * network within float rounding, fewer layers, models without batch norm untouched, no tensor leak,
 * and the Classifier runs the folded copy and disposes both.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { buildModel } from '../../src/model/architectures.ts';
import { initBackend } from '../../src/model/backend.ts';
import { Classifier } from '../../src/model/classifier.ts';
import { foldForInference } from '../../src/model/fold.ts';
import { loadModel, saveModel } from '../../src/model/io.ts';
import { resolveFeatureConfig } from '../../src/config.ts';
import { tempDir } from '../helpers/fixtures.ts';

before(async () => {
  await initBackend('wasm', null);
});

/** A resnet whose batch norms have non-trivial statistics, as after training. */
function trainedLikeResnet(seed: number, head: 'gap' | 'freq' = 'gap'): tf.LayersModel {
  const m = buildModel('resnet', { numClasses: 8, seed, head });
  let k = 0;
  for (const l of m.layers) {
    if (l.getClassName() !== 'BatchNormalization') continue;
    const w = l.getWeights();
    const fresh = w.map((x, i) => tf.randomUniform(x.shape, i === 3 ? 0.2 : -0.8, i === 3 ? 3 : 1.2, 'float32', seed * 100 + k++));
    l.setWeights(fresh);
    tf.dispose(fresh);
  }
  return m;
}

for (const head of ['gap', 'freq'] as const) {
  test(`a folded resnet (${head} head) computes what the original computes, with fewer layers and no BN left`, () => {
    const m = trainedLikeResnet(5, head);
    const f = foldForInference(m);
    try {
      assert.notEqual(f, m);
      assert.ok(f.layers.length < m.layers.length - 8, `${m.layers.length} → ${f.layers.length} layers`);
      assert.ok(!f.layers.some((l) => l.getClassName() === 'BatchNormalization'));
      const diff = tf.tidy(() => {
        const x = tf.randomUniform([8, 32, 32, 3], 0, 1, 'float32', 9);
        return tf.max(tf.abs(tf.sub(m.predict(x) as tf.Tensor, f.predict(x) as tf.Tensor))).dataSync()[0]!;
      });
      assert.ok(diff < 1e-5, `max difference ${diff}`);
    } finally {
      f.dispose();
      m.dispose();
    }
  });
}

test('models without batch norm are returned as they are; folding leaks no tensors', () => {
  const seed = buildModel('seed-cnn', { numClasses: 8, seed: 1 });
  assert.equal(foldForInference(seed), seed);
  seed.dispose();
  const m = trainedLikeResnet(6);
  const before = tf.memory().numTensors;
  const f = foldForInference(m);
  const weights = f.weights.length;
  assert.equal(tf.memory().numTensors, before + weights, 'only the folded copy’s weights were added');
  f.dispose();
  assert.equal(tf.memory().numTensors, before);
  m.dispose();
});

test('the Classifier runs the folded copy, labels as the original does, and disposes both', async () => {
  const tmp = await tempDir();
  try {
    const m = trainedLikeResnet(7);
    const dir = join(tmp.dir, 'm');
    await saveModel(m, dir, {
      name: 'r',
      architecture: 'resnet',
      classes: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'],
      features: resolveFeatureConfig(),
      confidenceThreshold: 0.4,
    });
    const before = tf.memory().numTensors;
    const loaded = await loadModel(dir);
    const cls = new Classifier(loaded);
    const images = Array.from({ length: 4 }, (_, i) => Uint8Array.from({ length: 32 * 32 * 3 }, (_, k) => (k * (i + 3)) % 256));
    const inputs = images.map((x) => Float32Array.from(x, (v) => v / 255));
    const got = cls.classify(images);
    const want = tf.tidy(
      () =>
        (
          m.predict(
            tf.tensor4d(
              inputs.flatMap((x) => [...x]),
              [4, 32, 32, 3],
            ),
          ) as tf.Tensor
        ).arraySync() as number[][],
    );
    got.forEach((c, i) => {
      want[i]!.forEach((p, k) => {
        assert.ok(Math.abs(c.probabilities[k]! - p) < 1e-5);
      });
    });
    cls.dispose();
    assert.equal(tf.memory().numTensors, before, 'the loaded model and its folded copy are both disposed');
    m.dispose();
  } finally {
    await tmp.cleanup();
  }
});

test('a fold that fails is reported, not swallowed: inference goes on with the unfolded network', () => {
  const m = trainedLikeResnet(8);
  // a model whose configuration cannot be read back (as a custom layer would make it)
  const broken = Object.assign(Object.create(Object.getPrototypeOf(m)) as tf.LayersModel, m, {
    getConfig: () => {
      throw new Error('layer Foo is not serialisable');
    },
  });
  const problems: string[] = [];
  assert.equal(
    foldForInference(broken, (p) => problems.push(p)),
    broken,
  );
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /cannot fold batch norm into the convolutions \(layer Foo is not serialisable\); running it unfolded/);
  m.dispose();
});
