import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveFeatureConfig } from '../../src/config.ts';
import {
  type AugmentOptions,
  DEFAULT_AUGMENT,
  NO_AUGMENT,
  augmentFrames,
  augmentWaveform,
  pitchShiftFrames,
} from '../../src/data/augment.ts';
import { frameSignal } from '../../src/features/framer.ts';
import { Random } from '../../src/util/random.ts';
import { noise, sine } from '../helpers/fixtures.ts';

const c = resolveFeatureConfig();
const only = (o: Partial<AugmentOptions>): AugmentOptions => ({ ...NO_AUGMENT, ...o });
/** Mean dB of some bands over all frames. */
function bandMean(data: Float32Array, frames: number, bands: number, from: number, to: number): number {
  let s = 0;
  for (let f = 0; f < frames; f++) for (let b = from; b < to; b++) s += data[f * bands + b]!;
  return s / (frames * (to - from));
}

test('band-limiting attenuates the bands above the low-pass cut-off and leaves the ones below', () => {
  const [w] = frameSignal(noise(1), c);
  const before = Float32Array.from(w!.data);
  augmentFrames(w!, new Random(1), only({ bandLimitProbability: 1, lowpassAt: [0.5, 0.5], highpassAt: [0, 0], bandSlopeDb: [10, 10] }), c);
  const { frames, bands } = w!;
  assert.ok(Math.abs(bandMean(w!.data, frames, bands, 0, 16) - bandMean(before, frames, bands, 0, 16)) < 1e-6);
  // band b ≥ 16 loses 10·(b + 0.5 − 16) dB, floored at the noise floor: bands 24… (≥ 85 dB down) reach it
  assert.ok(Math.abs(w!.data[5 * bands + 17]! - (before[5 * bands + 17]! - 15)) < 1e-4);
  assert.ok(Math.abs(bandMean(w!.data, frames, bands, 24, 32) - c.noiseFloorDb) < 1e-4);
  assert.ok(w!.data.every((v) => v >= c.noiseFloorDb - 1e-3));
});

test('reverberation leaves a decaying tail after a sound stops', () => {
  // 0.3 s of tone, then silence
  const x = new Float32Array(16000);
  x.set(sine(1000, 0.3));
  const [dry] = frameSignal(x, c);
  const [wet] = frameSignal(x, c);
  augmentFrames(wet!, new Random(2), only({ reverbProbability: 1, reverbSeconds: [1, 1], reverbDrrDb: [0, 0] }), c);
  const { bands } = wet!;
  // a frame 0.2 s after the tone ends: silent when dry, well above the floor when reverberant
  const f = Math.round((0.5 * 16000) / c.stftHopSamples);
  const level = (d: Float32Array) => Math.max(...d.subarray(f * bands, (f + 1) * bands));
  assert.ok(level(dry!.data) < -80, `dry ${level(dry!.data)}`);
  assert.ok(level(wet!.data) > level(dry!.data) + 30, `wet ${level(wet!.data)}`);
  // and it decays: later frames are quieter
  const later = Math.round((0.9 * 16000) / c.stftHopSamples);
  assert.ok(Math.max(...wet!.data.subarray(later * bands, (later + 1) * bands)) < level(wet!.data));
});

test('background mixing takes its clip from the background source at the asked signal-to-background ratio', () => {
  const x = sine(500, 1, 16000, 0.5);
  const bg = noise(1, 16000, 0.3, 5);
  let anyCalls = 0;
  const y = augmentWaveform(x, new Random(3), only({ backgroundMixProbability: 1, backgroundSnrDb: [10, 10] }), {
    any: () => {
      anyCalls++;
      return bg;
    },
    background: () => bg,
  });
  assert.equal(anyCalls, 0);
  const rms = (v: Float32Array) => Math.sqrt(v.reduce((a, s) => a + s * s, 0) / v.length);
  const added = Float32Array.from(y, (v, i) => v - x[i]!);
  assert.ok(Math.abs(20 * Math.log10(rms(x) / rms(added)) - 10) < 0.01);
  // with no background source nothing is mixed
  assert.deepEqual(augmentWaveform(x, new Random(3), only({ backgroundMixProbability: 1 })), x);
});

/** The band of each frame with the most energy. */
const peaks = (data: Float32Array, frames: number, bands: number): number[] =>
  Array.from({ length: frames }, (_, f) => {
    let best = 0;
    for (let b = 1; b < bands; b++) if (data[f * bands + b]! > data[f * bands + best]!) best = b;
    return best;
  });

test('a pitch shift moves a tone to the bands of the shifted tone, on the mel and the linear band scales', () => {
  for (const cfg of [c, resolveFeatureConfig({ frequencyScale: 'linear' })]) {
    const r = 2 ** (4 / 12);
    const [w] = frameSignal(sine(900, 1), cfg);
    const [up] = frameSignal(sine(900 * r, 1), cfg);
    const { frames, bands } = w!;
    const before = peaks(w!.data, frames, bands);
    pitchShiftFrames(w!, r, cfg);
    assert.deepEqual(peaks(w!.data, frames, bands), peaks(up!.data, frames, bands), cfg.frequencyScale);
    assert.notDeepEqual(before, peaks(up!.data, frames, bands), `${cfg.frequencyScale}: the tones must be bands apart`);
  }
});

test('a pitch shift by 1 changes nothing; down, the top bands come from above the band range: the noise floor', () => {
  const [w] = frameSignal(noise(1), c);
  const before = Float32Array.from(w!.data);
  pitchShiftFrames(w!, 1, c);
  for (let i = 0; i < before.length; i++) assert.ok(Math.abs(w!.data[i]! - before[i]!) < 1e-3);
  pitchShiftFrames(w!, 0.8, c);
  const { frames, bands } = w!;
  assert.equal(bandMean(w!.data, frames, bands, bands - 2, bands), c.noiseFloorDb);
  assert.ok(bandMean(w!.data, frames, bands, 0, 8) > c.noiseFloorDb + 20);
});

test('augmentation without pitch settings draws the same random numbers as before they existed', () => {
  const run = (o: AugmentOptions) => {
    const [w] = frameSignal(noise(1), c);
    augmentFrames(w!, new Random(7), o, c);
    return w!.data;
  };
  const all = { ...DEFAULT_AUGMENT, bandLimitProbability: 0.5, reverbProbability: 0.5 };
  assert.deepEqual(run({ ...all, pitchProbability: 0 }), run(all));
  assert.notDeepEqual(run({ ...all, pitchProbability: 1 }), run(all));
});
