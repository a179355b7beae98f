import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { resolveFeatureConfig } from '../../src/config.ts';
import { buildModel } from '../../src/model/architectures.ts';
import { initBackend } from '../../src/model/backend.ts';
import { Classifier } from '../../src/model/classifier.ts';
import { loadModel, saveModel } from '../../src/model/io.ts';
import { tempDir, writeTinyModel } from '../helpers/fixtures.ts';

let tmp: Awaited<ReturnType<typeof tempDir>>;
before(async () => {
  await initBackend('wasm', null);
  tmp = await tempDir();
});
after(() => tmp.cleanup());

test('seed-cnn is the capstone network (4,247,483 parameters for 8 classes)', () => {
  const m = buildModel('seed-cnn', { numClasses: 8 });
  assert.equal(m.countParams(), 4247483);
  assert.deepEqual(
    m.layers.map((l) => l.getClassName()),
    [
      'Conv2D',
      'Conv2D',
      'MaxPooling2D',
      'Dropout',
      'Conv2D',
      'MaxPooling2D',
      'Dropout',
      'Flatten',
      'Dense',
      'Dropout',
      'Dense',
      'Dropout',
      'Dense',
    ],
  );
  m.dispose();
});

test('save → load round-trips weights and predictions exactly (float32), closely (float16, uint8)', async () => {
  const classes = ['x', 'y', 'z'];
  const m = buildModel('resnet', { numClasses: 3, seed: 3 });
  const input = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 1);
  const ref = (m.predict(input) as tf.Tensor).dataSync();
  for (const quantization of ['none', 'float16', 'uint8'] as const) {
    const dir = join(tmp.dir, `rt-${quantization}`);
    const meta = await saveModel(
      m,
      dir,
      { name: 'rt', architecture: 'resnet', classes, features: resolveFeatureConfig(), confidenceThreshold: 0.4 },
      { quantization },
    );
    const loaded = await loadModel(dir);
    assert.deepEqual(loaded.metadata.classes, classes);
    const got = (loaded.model.predict(input) as tf.Tensor).dataSync();
    const maxErr = Math.max(...ref.map((v, i) => Math.abs(v - got[i]!)));
    assert.ok(quantization === 'none' ? maxErr === 0 : maxErr < 0.05, `${quantization}: max error ${maxErr}`);
    if (quantization !== 'none') assert.ok(meta.weights!.bytes < (quantization === 'uint8' ? 0.3 : 0.55) * m.countParams() * 4);
    loaded.model.dispose();
  }
  input.dispose();
  m.dispose();
});

test('refuses a model whose features, classes or shapes disagree', async () => {
  const dir = join(tmp.dir, 'tiny');
  await writeTinyModel(dir, ['a', 'b', 'c']);
  await assert.rejects(loadModel(dir, { expectFeatures: resolveFeatureConfig({ fftSize: 1024 }) }), {
    code: 'ERR_MODEL_MISMATCH',
    message: /trained with different features.*fftSize: 512 ≠ 1024/,
  });
  await assert.rejects(loadModel(dir, { expectClasses: ['a', 'b'] }), { code: 'ERR_MODEL_MISMATCH', message: /classes \[a, b, c\]/ });
  // metadata that claims four classes for a three-output network
  const metaPath = join(dir, 'metadata.json');
  const meta = JSON.parse(await readFile(metaPath, 'utf8'));
  await writeFile(metaPath, JSON.stringify({ ...meta, classes: ['a', 'b', 'c', 'd'] }));
  await assert.rejects(loadModel(dir), { code: 'ERR_MODEL_MISMATCH', message: /3 outputs but metadata lists 4 classes/ });
  await writeFile(metaPath, JSON.stringify({ ...meta, features: { ...meta.features, imageSize: 64 } }));
  await assert.rejects(loadModel(dir), { code: 'ERR_MODEL_MISMATCH', message: /input shape .* does not match the 64×64×3/ });
  await writeFile(metaPath, JSON.stringify({ ...meta, features: { ...meta.features, hopMillis: -1 } }));
  await assert.rejects(loadModel(dir), { code: 'ERR_MODEL_INVALID', message: /invalid feature config: hopMillis/ });
  await writeFile(metaPath, '{ nope');
  await assert.rejects(loadModel(dir), { code: 'ERR_MODEL_INVALID', message: /not valid JSON/ });
  await rm(metaPath);
  await assert.rejects(loadModel(dir), { code: 'ERR_MODEL_NOT_FOUND' });
});

test('classifier reports unknown under the threshold and keeps the tensor count flat', async () => {
  const dir = join(tmp.dir, 'tiny2');
  await writeTinyModel(dir, ['a', 'b', 'c']);
  const cls = new Classifier(await loadModel(dir), { threshold: 0.99 });
  cls.warmUp();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 20; i++) {
    const [r] = cls.classify([new Uint8Array(32 * 32 * 3).fill(Math.round((255 * i) / 20))]);
    assert.equal(r!.label, 'unknown');
    assert.ok(Math.abs(r!.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-5);
  }
  assert.equal(tf.memory().numTensors, before);
  const low = new Classifier(await loadModel(dir), { threshold: 0 });
  assert.notEqual(low.classify([new Uint8Array(32 * 32 * 3)])[0]!.label, 'unknown');
  assert.throws(() => cls.classify([new Uint8Array(5)]), /5 bytes, expected 3072/);
  cls.dispose();
  low.dispose();
});
