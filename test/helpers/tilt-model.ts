/**
 * A tiny model whose answers are known, for end-to-end tests of live listening: it looks at the spectral
 * tilt of the model input and calls a window 'fire' when the top (high-frequency) half of the image is
 * much darker than the bottom half, 'water' otherwise.
 *
 * Measured on the bundled samples (default feature config, mean green level top − bottom per window):
 * fire.wav −0.31…−0.34, wind −0.26…−0.38, engine −0.2; water.wav −0.01…0, rain −0.03, birds +0.02…+0.06.
 * The decision boundary sits at −0.16, so a window of fire.wav is 'fire' and one of water.wav is 'water'
 * with probabilities above 0.99, whatever the weights of the bundled (untrained) model.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { writeWav } from '../../src/audio/wav.ts';
import { loadAudio } from '../../src/audio/wav-reader.ts';
import { type FeatureConfig, resolveFeatureConfig } from '../../src/config.ts';
import { initBackend } from '../../src/model/backend.ts';
import { saveModel } from '../../src/model/io.ts';
import { REPO_ROOT } from './fixtures.ts';

/** The model's classes, in output order. */
export const TILT_CLASSES = ['fire', 'water'] as const;
/** Boundary on (mean green top half − mean green bottom half), and the logit gain. */
const BOUNDARY = -0.16;
const GAIN = 25;

/** The tilt statistic of a model input (HWC floats in [0, 1]): mean green of the top half minus the bottom half. */
export function tilt(input: Float32Array, size = 32): number {
  let d = 0;
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) d += (y < size / 2 ? 1 : -1) * input[(y * size + x) * 3 + 1]!;
  return d / ((size * size) / 2);
}

/**
 * Saves the tilt model into `dir`. With `bright`, a third class 'bright', recorded in the metadata as
 * a learned class (its own event settings: threshold 0.5, one window), whose logit is twice water's:
 * the windows that were 'water' become 'bright' (p ≈ 0.97), the 'fire' ones stay 'fire'.
 */
export async function writeTiltModel(
  dir: string,
  features: FeatureConfig = resolveFeatureConfig(),
  { bright = false }: { bright?: boolean } = {},
): Promise<void> {
  const s = features.imageSize;
  const n = s * s * 3;
  const units = bright ? 3 : 2;
  const kernel = new Float32Array(n * units);
  for (let y = 0; y < s; y++)
    for (let x = 0; x < s; x++) {
      const w = ((y < s / 2 ? 1 : -1) * GAIN) / ((s * s) / 2);
      const i = (y * s + x) * 3 + 1; // green: monotonic in viridis
      kernel[i * units] = -w; // fire: dark top
      kernel[i * units + 1] = w; // water: bright top
      if (bright) kernel[i * units + 2] = 2 * w;
    }
  await initBackend('wasm', null); // see writeTinyModel
  const m = tf.sequential();
  m.add(tf.layers.flatten({ inputShape: [s, s, 3] }));
  m.add(tf.layers.dense({ units, activation: 'softmax' }));
  // logits: fire = −GAIN·(tilt − BOUNDARY), water = +GAIN·(tilt − BOUNDARY) (bright: twice water's)
  const bias = [GAIN * BOUNDARY, -GAIN * BOUNDARY, ...(bright ? [-2 * GAIN * BOUNDARY] : [])];
  const [k, b] = [tf.tensor2d(kernel, [n, units]), tf.tensor1d(bias)];
  m.layers[1]!.setWeights([k, b]);
  k.dispose();
  b.dispose();
  const classes = [...TILT_CLASSES, ...(bright ? ['bright'] : [])];
  const customClasses = bright
    ? [
        {
          label: 'bright',
          addedAt: '2026-12-01T00:00:00.000Z',
          examples: { files: ['a.wav', 'b.wav', 'c.wav'], windows: 9 },
          negatives: { files: [], windows: 0, bank: 0 },
          fit: { method: 'by hand', augmentations: 0, l2: 0, negativeWeight: 0 },
          events: { threshold: 0.5, minDurationMs: 1000 },
          check: { examplesOnTop: 1, bankOnTop: 0 },
        },
      ]
    : [];
  await saveModel(m, dir, {
    name: bright ? 'tilt-bright' : 'tilt',
    architecture: 'tilt-test',
    classes,
    features,
    confidenceThreshold: 0.4,
    ...(bright ? { customClasses } : {}),
  });
  m.dispose();
}

/** Sample recordings and silences, joined into one 16 kHz WAV. `parts`: a sample name or a silence in seconds. */
export async function writeScene(path: string, parts: Array<string | number>, sampleRateHz = 16000): Promise<number> {
  const chunks: Float32Array[] = [];
  for (const p of parts)
    chunks.push(
      typeof p === 'number'
        ? new Float32Array(Math.round(p * sampleRateHz))
        : await loadAudio(join(REPO_ROOT, 'samples', `${p}.wav`), sampleRateHz),
    );
  const total = chunks.reduce((a, c) => a + c.length, 0);
  const x = new Float32Array(total);
  let o = 0;
  for (const c of chunks) {
    x.set(c, o);
    o += c.length;
  }
  await writeWav(path, x, sampleRateHz);
  return total / sampleRateHz;
}
