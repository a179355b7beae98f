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
import { freqMixStyle, predictImages, recipeRecordOf, trainModel } from '../../src/training/train.ts';
import { Random } from '../../src/util/random.ts';
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

test('mixup, Freq-MixStyle and weight averaging (EMA) train, select the averaged weights and release their tensors', async () => {
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
    freqMixStyle: 1,
    ema: 0.9,
  });
  assert.equal(r.history.length, 2);
  assert.ok(r.history.every((h) => Number.isFinite(h.loss) && Number.isFinite(h.valLoss)));
  r.model.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test("Freq-MixStyle gives each image a blend of its own and a partner image's band statistics, and keeps its shape in time", async () => {
  const tf = await import('@tensorflow/tfjs');
  const before = tf.memory().numTensors;
  // two 4x4x3 images: each row (band) has its own level and spread; image b is a's pattern, re-coloured
  const a = Array.from({ length: 4 * 4 * 3 }, (_, k) => Math.floor(k / 12) * 0.2 + ((k % 12) / 12) * 0.1);
  const b = a.map((v, k) => 0.9 - 0.5 * v + (Math.floor(k / 12) === 2 ? 0.05 : 0));
  const xs = tf.tensor4d([...a, ...b], [2, 4, 4, 3]);
  // per image and band: mean, deviation, and the standardised values (the pattern within the band)
  const stats = (t: import('@tensorflow/tfjs').Tensor4D) =>
    tf.tidy(() => {
      const { mean, variance } = tf.moments(t, [2, 3], true);
      const sig = variance.add(1e-6).sqrt();
      return {
        mean: mean.arraySync() as number[][][][],
        sig: sig.arraySync() as number[][][][],
        z: t.sub(mean).div(sig).arraySync() as number[][][][],
      };
    });
  const { mean: ownMean, sig: ownSig, z: zIn } = stats(xs);
  const out = freqMixStyle(xs, new Random(7));
  assert.equal(xs.isDisposed, true);
  assert.deepEqual(out.shape, [2, 4, 4, 3]);
  const { mean: outMean, sig: outSig, z: zOut } = stats(out);
  let moved = 0;
  for (let i = 0; i < 2; i++)
    for (let r = 0; r < 4; r++) {
      // the pattern within a band (its standardised values) is unchanged
      for (let c = 0; c < 4; c++) for (let ch = 0; ch < 3; ch++) assert.ok(Math.abs(zOut[i]![r]![c]![ch]! - zIn[i]![r]![c]![ch]!) < 1e-2);
      // the band's level lies between the two images' levels for that band (a blend), same for its spread
      const lo = Math.min(ownMean[0]![r]![0]![0]!, ownMean[1]![r]![0]![0]!) - 1e-4;
      const hi = Math.max(ownMean[0]![r]![0]![0]!, ownMean[1]![r]![0]![0]!) + 1e-4;
      const mu = outMean[i]![r]![0]![0]!;
      assert.ok(mu >= lo && mu <= hi, `band ${r} of image ${i}: ${mu} outside [${lo}, ${hi}]`);
      const sLo = Math.min(ownSig[0]![r]![0]![0]!, ownSig[1]![r]![0]![0]!) - 1e-3;
      const sHi = Math.max(ownSig[0]![r]![0]![0]!, ownSig[1]![r]![0]![0]!) + 1e-3;
      assert.ok(outSig[i]![r]![0]![0]! >= sLo && outSig[i]![r]![0]![0]! <= sHi);
      if (Math.abs(mu - ownMean[i]![r]![0]![0]!) > 1e-3) moved++;
    }
  // with seed 7 the shuffle pairs the two images, so some band takes on the other image's colouring
  assert.ok(moved > 0, 'no band changed: the partner statistics were not used');
  out.dispose();
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
