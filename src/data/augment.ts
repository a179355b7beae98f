/**
 * Training-time augmentation for sound. Waveform changes (time shift, gain, background mixing, noise,
 * digital-silence gaps) happen before the feature path; spectral ones (random EQ, frequency and time
 * masks) on the dB frames before colouring. Rendering itself is the one feature path, unchanged.
 */
import type { FeatureConfig } from '../config.ts';
import { frameSignal, type WindowFrames } from '../features/framer.ts';
import { renderWindowImages } from '../features/render.ts';
import type { Random } from '../util/random.ts';

/** Probabilities and ranges of each augmentation; 0 probability turns one off. */
export interface AugmentOptions {
  /** Circular time shift by a random offset. */
  shiftProbability: number;
  /** Mix another training clip (any class) underneath, at a gain in this range relative to the clip. */
  mixProbability: number;
  mixGainDb: [number, number];
  /** Add white, pink or brown noise at an SNR in this range. */
  noiseProbability: number;
  noiseSnrDb: [number, number];
  /** Overall gain range (matters against the fixed noise floor). */
  gainDb: [number, number];
  /** Replace a random stretch of 50–400 ms by digital silence, so exact zeros never identify a class. */
  gapProbability: number;
  /** Random spectral tilt and bumps of up to ±eqDb across the bands (different microphones and sources). */
  eqProbability: number;
  eqDb: number;
  /** SpecAugment-style masks: up to `freqMaskBands` bands and `timeMaskFrames` frames, `masks` of each. */
  maskProbability: number;
  freqMaskBands: number;
  timeMaskFrames: number;
  masks: number;
}

export const DEFAULT_AUGMENT: Readonly<AugmentOptions> = Object.freeze({
  shiftProbability: 1,
  mixProbability: 0.5,
  mixGainDb: [-24, -8] as [number, number],
  noiseProbability: 0.4,
  noiseSnrDb: [5, 40] as [number, number],
  gainDb: [-30, 0] as [number, number],
  gapProbability: 0.2,
  eqProbability: 0.6,
  eqDb: 8,
  maskProbability: 0.5,
  freqMaskBands: 8,
  timeMaskFrames: 16,
  masks: 2,
});

/** No augmentation at all. */
export const NO_AUGMENT: Readonly<AugmentOptions> = Object.freeze({
  ...DEFAULT_AUGMENT,
  shiftProbability: 0,
  mixProbability: 0,
  noiseProbability: 0,
  gainDb: [0, 0] as [number, number],
  gapProbability: 0,
  eqProbability: 0,
  maskProbability: 0,
});

const rms = (x: Float32Array) => Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length) || 1e-9;
const db = (g: number) => 10 ** (g / 20);

function coloredNoise(n: number, rng: Random): Float32Array {
  const kind = rng.int(3);
  const out = new Float32Array(n);
  if (kind === 0) for (let i = 0; i < n; i++) out[i] = rng.normal();
  else if (kind === 1) {
    // pink: Paul Kellet's economy filter
    let b0 = 0,
      b1 = 0,
      b2 = 0;
    for (let i = 0; i < n; i++) {
      const w = rng.normal();
      b0 = 0.99765 * b0 + w * 0.099046;
      b1 = 0.963 * b1 + w * 0.2965164;
      b2 = 0.57 * b2 + w * 1.0526913;
      out[i] = b0 + b1 + b2 + w * 0.1848;
    }
  } else {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      acc = 0.98 * acc + rng.normal();
      out[i] = acc;
    }
  }
  return out;
}

/**
 * Waveform augmentation of one window of audio (a new array; `x` is not changed).
 * @param background picks another clip to mix underneath.
 */
export function augmentWaveform(x: Float32Array, rng: Random, o: AugmentOptions, background?: () => Float32Array): Float32Array {
  const n = x.length;
  let y = Float32Array.from(x);
  if (rng.next() < o.shiftProbability) {
    const k = rng.int(n);
    const s = new Float32Array(n);
    s.set(y.subarray(k));
    s.set(y.subarray(0, k), n - k);
    y = s;
  }
  if (background && rng.next() < o.mixProbability) {
    const b = background();
    const k = rng.int(n);
    const g = (db(rng.uniform(o.mixGainDb[0], o.mixGainDb[1])) * rms(y)) / rms(b);
    for (let i = 0; i < n; i++) y[i]! += g * b[(i + k) % b.length]!;
  }
  if (rng.next() < o.noiseProbability) {
    const nz = coloredNoise(n, rng);
    const g = (rms(y) / rms(nz)) * db(-rng.uniform(o.noiseSnrDb[0], o.noiseSnrDb[1]));
    for (let i = 0; i < n; i++) y[i]! += g * nz[i]!;
  }
  if (rng.next() < o.gapProbability) {
    const len = Math.round(rng.uniform(0.05, 0.4) * n);
    const at = rng.next() < 0.5 ? n - len : rng.int(n - len);
    y.fill(0, at, at + len);
  }
  const gain = db(rng.uniform(o.gainDb[0], o.gainDb[1]));
  let peak = 0;
  for (let i = 0; i < n; i++) peak = Math.max(peak, Math.abs(y[i]!));
  // keep within full scale, as a recorder would (peak-normalise when mixing pushed it over)
  const g = peak * gain > 0.99 ? 0.99 / peak : gain;
  for (let i = 0; i < n; i++) y[i]! *= g;
  return y;
}

/** Spectral augmentation of a window's dB frames, in place. */
export function augmentFrames(w: WindowFrames, rng: Random, o: AugmentOptions): void {
  const { frames, bands, data } = w;
  if (rng.next() < o.eqProbability) {
    // tilt plus two smooth bumps across the bands
    const tilt = rng.uniform(-o.eqDb, o.eqDb);
    const bumps = [0, 1].map(() => ({
      c: rng.uniform(0, bands),
      w: rng.uniform(bands / 16, bands / 3),
      g: rng.uniform(-o.eqDb, o.eqDb) / 2,
    }));
    const curve = Float32Array.from(
      { length: bands },
      (_, b) => tilt * (b / (bands - 1) - 0.5) + bumps.reduce((a, k) => a + k.g * Math.exp(-(((b - k.c) / k.w) ** 2)), 0),
    );
    for (let f = 0; f < frames; f++) for (let b = 0; b < bands; b++) data[f * bands + b]! += curve[b]!;
  }
  if (rng.next() < o.maskProbability) {
    let min = Infinity;
    for (const v of data) min = Math.min(min, v);
    for (let m = 0; m < o.masks; m++) {
      const fw = rng.int(o.freqMaskBands + 1);
      const f0 = rng.int(Math.max(1, bands - fw));
      for (let f = 0; f < frames; f++) data.fill(min, f * bands + f0, f * bands + f0 + fw);
      const tw = rng.int(o.timeMaskFrames + 1);
      const t0 = rng.int(Math.max(1, frames - tw));
      data.fill(min, t0 * bands, (t0 + tw) * bands);
    }
  }
}

/**
 * The spectrogram of an augmented copy of one window of audio: waveform augmentation, then the feature
 * path's framing, then spectral augmentation. Render it with the feature path (renderWindowImages).
 */
export function augmentedWindow(
  x: Float32Array,
  c: FeatureConfig,
  rng: Random,
  o: AugmentOptions,
  background?: () => Float32Array,
): WindowFrames {
  const y = augmentWaveform(x, rng, o, background);
  const [w] = frameSignal(y, c);
  if (!w) throw new Error(`augmented clip of ${y.length} samples is shorter than a window`);
  augmentFrames(w, rng, o);
  return w;
}

/** Model-input images of augmented copies of many windows of audio, rendered in one batch. */
export async function renderAugmented(
  xs: readonly Float32Array[],
  c: FeatureConfig,
  rng: Random,
  o: AugmentOptions,
  background?: () => Float32Array,
): Promise<Uint8Array[]> {
  return renderWindowImages(
    xs.map((x) => augmentedWindow(x, c, rng, o, background)),
    c,
  );
}
