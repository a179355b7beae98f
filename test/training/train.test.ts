import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeWav } from '../../src/audio/wav.ts';
import { resolveFeatureConfig } from '../../src/config.ts';
import { DEFAULT_AUGMENT } from '../../src/data/augment.ts';
import { buildAudioDataset } from '../../src/data/build.ts';
import type { Dataset } from '../../src/data/dataset-file.ts';
import { initBackend } from '../../src/model/backend.ts';
import { evaluatePredictions } from '../../src/training/metrics.ts';
import { predictImages, recipeRecordOf, trainModel } from '../../src/training/train.ts';
import { noise, sine, tempDir } from '../helpers/fixtures.ts';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let ds: Dataset;
before(async () => {
  await initBackend('wasm', null);
  tmp = await tempDir();
  // a handful of clips: low tones vs noise bursts, 4 recordings each
  for (let g = 0; g < 4; g++)
    for (let w = 0; w < 3; w++) {
      await mkdir(join(tmp.dir, 'tone'), { recursive: true });
      await mkdir(join(tmp.dir, 'noise'), { recursive: true });
      await writeWav(join(tmp.dir, 'tone', `t${g}-${w}.wav`), sine(300 + 50 * g + 10 * w, 1, 16000, 0.4), 16000);
      await writeWav(join(tmp.dir, 'noise', `n${g}-${w}.wav`), noise(1, 16000, 0.3, 10 * g + w + 1), 16000);
    }
  ds = await buildAudioDataset(tmp.dir, { features: resolveFeatureConfig(), seed: 3, ratios: [0.5, 0.25, 0.25] });
});
after(() => tmp.cleanup());

test('a tiny run on WASM: the loss falls, the best epoch is kept, tensors are released', async () => {
  const { default: tf } = await import('@tensorflow/tfjs').then((m) => ({ default: m }));
  const before = tf.memory().numTensors;
  const r = await trainModel(ds, {
    arch: 'resnet',
    epochs: 4,
    batchSize: 8,
    lr: 3e-3,
    seed: 1,
    patience: 0,
    augment: null,
    sampling: 'natural',
    labelSmoothing: 0,
    lrSchedule: 'constant',
  });
  assert.equal(r.history.length, 4);
  assert.ok(r.history.at(-1)!.loss < r.history[0]!.loss, `loss ${r.history.map((h) => h.loss.toFixed(3)).join(' → ')}`);
  const best = r.history[r.bestEpoch]!;
  assert.equal(best.valAcc, Math.max(...r.history.map((h) => h.valAcc)));
  // the returned model carries the kept epoch's weights: its validation accuracy is the kept one
  const valid = ds.indices('valid');
  const probs = predictImages(
    r.model,
    valid.map((i) => ds.image(i)),
    32,
  );
  const rep = evaluatePredictions(
    ds.classes,
    valid.map((i) => ds.header.items[i]!.label),
    probs,
    0.4,
  );
  assert.equal(rep.accuracy, best.valAcc);
  r.model.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('augmented training renders through the feature path and stops on request with the best so far', async () => {
  let batches = 0;
  const r = await trainModel(ds, {
    arch: 'resnet',
    epochs: 5,
    batchSize: 8,
    lr: 1e-3,
    seed: 2,
    patience: 0,
    augment: DEFAULT_AUGMENT,
    sampling: 'balanced',
    labelSmoothing: 0.1,
    lrSchedule: 'cosine',
    onBatch: () => batches++,
    shouldStop: () => batches >= 3, // stop after the first epoch's last batch (ceil(12/8) = 2 per epoch)
  });
  assert.equal(r.interrupted, true);
  assert.equal(r.history.length, 1);
  assert.ok(r.history[0]!.augmentSeconds > 0);
  r.model.dispose();
});

test('mixup and weight averaging (EMA) train, select the averaged weights and release their tensors', async () => {
  const tf = await import('@tensorflow/tfjs');
  const before = tf.memory().numTensors;
  const r = await trainModel(ds, {
    arch: 'resnet',
    epochs: 2,
    batchSize: 8,
    lr: 3e-3,
    seed: 4,
    patience: 0,
    augment: null,
    sampling: 'natural',
    labelSmoothing: 0,
    lrSchedule: 'constant',
    mixup: 0.4,
    ema: 0.9,
  });
  assert.equal(r.history.length, 2);
  assert.ok(r.history.every((h) => Number.isFinite(h.loss) && Number.isFinite(h.valLoss)));
  r.model.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('--widths builds a wider ResNet, and the recipe record names it', async () => {
  const recipe = {
    arch: 'resnet' as const,
    epochs: 1,
    batchSize: 8,
    lr: 3e-3,
    seed: 2,
    patience: 0,
    augment: null,
    sampling: 'natural' as const,
    labelSmoothing: 0,
    lrSchedule: 'constant' as const,
  };
  const narrow = await trainModel(ds, recipe);
  const wide = await trainModel(ds, { ...recipe, widths: [32, 64, 128] });
  try {
    // 3×3 convolutions dominate: doubling every width about quadruples the parameters
    const ratio = wide.model.countParams() / narrow.model.countParams();
    assert.ok(ratio > 3.5 && ratio < 4.2, `parameter ratio ${ratio}`);
  } finally {
    narrow.model.dispose();
    wide.model.dispose();
  }
  assert.deepEqual(recipeRecordOf({ ...recipe, widths: [32, 64, 128] }).widths, [32, 64, 128]);
  assert.equal('widths' in recipeRecordOf(recipe), false);
});
