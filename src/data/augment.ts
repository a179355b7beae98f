/**
 * Training-time augmentation for sound. Waveform changes (time shift, gain, background mixing, noise,
 * digital-silence gaps) happen before the feature path; spectral ones (random EQ, band-limiting,
 * reverberation, frequency and time masks) on the dB frames before colouring. Rendering itself is the
 * one feature path, unchanged.
 *
 * Most of them imitate another recording chain — another microphone (EQ, band-limiting), another room
 * (reverberation), another place (background sounds underneath, noise) — because a model that is to
 * recognise a sound on recordings it never heard must not learn the one chain each class was recorded with.
 */
import type { FeatureConfig } from '../config.ts';
import { hzToMel, melToHz } from '../dsp/spectrogram.ts';
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
  /**
   * Mix a clip of a background class ("none of these": music, effects, crowds…) underneath, at a
   * signal-to-background ratio in this range (dB): the sounds a target is heard over in real life.
   */
  backgroundMixProbability: number;
  backgroundSnrDb: [number, number];
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
  /**
   * A cheaper or different microphone, a codec, a phone: attenuate the bands above a random cut-off
   * (at a fraction of the band range in `lowpassAt`) and below one (in `highpassAt`), by a slope in
   * `bandSlopeDb` dB per band.
   */
  bandLimitProbability: number;
  lowpassAt: [number, number];
  highpassAt: [number, number];
  bandSlopeDb: [number, number];
  /**
   * Another room: a diffuse reverberant tail added to every band's power (a decaying average of the
   * band's past power) with a reverberation time (RT60) in `reverbSeconds` (shorter for high bands)
   * and a direct-to-reverberant ratio in `reverbDrrDb`.
   */
  reverbProbability: number;
  reverbSeconds: [number, number];
  reverbDrrDb: [number, number];
  /** SpecAugment-style masks: up to `freqMaskBands` bands and `timeMaskFrames` frames, `masks` of each. */
  maskProbability: number;
  freqMaskBands: number;
  timeMaskFrames: number;
  masks: number;
  /**
   * Another source of the same kind of sound — a bigger engine, another bird, a higher tap — or a tape
   * or sample-rate drift: every frame's spectrum moved up or down by a random factor in `pitchRange`
   * (frequencies multiplied; read off the band scale the frames were computed on). Optional: off and
   * out of the recipe record when absent, so recipes without it keep their random streams.
   */
  pitchProbability?: number;
  pitchRange?: [number, number];
}

/** Settings that are absent from DEFAULT_AUGMENT (off unless given). */
export const OPTIONAL_AUGMENT: readonly string[] = ['pitchProbability', 'pitchRange'];

/** The pitch factors drawn when `pitchProbability` is on and no range is given: ±3 semitones. */
export const DEFAULT_PITCH_RANGE: [number, number] = [2 ** (-3 / 12), 2 ** (3 / 12)];

export const DEFAULT_AUGMENT: Readonly<AugmentOptions> = Object.freeze({
  shiftProbability: 1,
  mixProbability: 0.5,
  mixGainDb: [-24, -8] as [number, number],
  backgroundMixProbability: 0,
  backgroundSnrDb: [0, 20] as [number, number],
  noiseProbability: 0.4,
  noiseSnrDb: [5, 40] as [number, number],
  gainDb: [-30, 0] as [number, number],
  gapProbability: 0.2,
  eqProbability: 0.6,
  eqDb: 8,
  bandLimitProbability: 0,
  lowpassAt: [0.4, 1] as [number, number],
  highpassAt: [0, 0.2] as [number, number],
  bandSlopeDb: [3, 20] as [number, number],
  reverbProbability: 0,
  reverbSeconds: [0.2, 1.5] as [number, number],
  reverbDrrDb: [-3, 12] as [number, number],
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
  backgroundMixProbability: 0,
  noiseProbability: 0,
  gainDb: [0, 0] as [number, number],
  gapProbability: 0,
  eqProbability: 0,
  bandLimitProbability: 0,
  reverbProbability: 0,
  maskProbability: 0,
});

/** Where augmentation finds other audio to mix in (each returns one window of samples). */
export interface MixSources {
  /** Any training clip. */
  any?: () => Float32Array;
  /** A clip of a background ("none of these") class, when the dataset has one. */
  background?: () => Float32Array;
}

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

/** Adds `b` (circularly, from a random offset) to `y` in place with gain g. */
function mixInto(y: Float32Array, b: Float32Array, g: number, rng: Random): void {
  const k = rng.int(b.length);
  for (let i = 0; i < y.length; i++) y[i]! += g * b[(i + k) % b.length]!;
}

/**
 * Waveform augmentation of one window of audio (a new array; `x` is not changed).
 * @param sources other clips to mix underneath.
 */
export function augmentWaveform(x: Float32Array, rng: Random, o: AugmentOptions, sources: MixSources = {}): Float32Array {
  const n = x.length;
  let y = Float32Array.from(x);
  if (rng.next() < o.shiftProbability) {
    const k = rng.int(n);
    const s = new Float32Array(n);
    s.set(y.subarray(k));
    s.set(y.subarray(0, k), n - k);
    y = s;
  }
  if (sources.any && rng.next() < o.mixProbability) {
    const b = sources.any();
    mixInto(y, b, (db(rng.uniform(o.mixGainDb[0], o.mixGainDb[1])) * rms(y)) / rms(b), rng);
  }
  if (sources.background && rng.next() < o.backgroundMixProbability) {
    const b = sources.background();
    mixInto(y, b, (db(-rng.uniform(o.backgroundSnrDb[0], o.backgroundSnrDb[1])) * rms(y)) / rms(b), rng);
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

/** Attenuates the bands above and below random cut-offs (a band-limited microphone or codec), in place. */
function bandLimit(w: WindowFrames, rng: Random, o: AugmentOptions, floorDb: number): void {
  const { frames, bands, data } = w;
  const hi = rng.uniform(o.lowpassAt[0], o.lowpassAt[1]) * bands;
  const lo = rng.uniform(o.highpassAt[0], o.highpassAt[1]) * bands;
  const slopeHi = rng.uniform(o.bandSlopeDb[0], o.bandSlopeDb[1]);
  const slopeLo = rng.uniform(o.bandSlopeDb[0], o.bandSlopeDb[1]);
  for (let b = 0; b < bands; b++) {
    const cut = Math.max(0, b + 0.5 - hi) * slopeHi + Math.max(0, lo - b - 0.5) * slopeLo;
    if (cut <= 0) continue;
    for (let f = 0; f < frames; f++) data[f * bands + b] = Math.max(floorDb, data[f * bands + b]! - cut);
  }
}

/**
 * Adds a diffuse reverberant tail to every band, in place: the band's power plus g times a running
 * average of its past power that decays by 60 dB in the band's reverberation time. The running
 * average starts at the window's first frames (as if the sound had been going on), so the window's
 * start is not reverb-free.
 */
function reverberate(w: WindowFrames, rng: Random, o: AugmentOptions, hopSeconds: number, floorDb: number): void {
  const { frames, bands, data } = w;
  const rt60 = rng.uniform(o.reverbSeconds[0], o.reverbSeconds[1]);
  const g = db(-rng.uniform(o.reverbDrrDb[0], o.reverbDrrDb[1])) ** 2;
  const floor = 10 ** (floorDb / 10);
  for (let b = 0; b < bands; b++) {
    // high frequencies die away faster (air and wall absorption)
    const t = rt60 * (1 - (0.5 * b) / bands);
    const a = Math.exp((-Math.LN10 * 6 * hopSeconds) / t);
    let tail = 0;
    for (let f = 0; f < Math.min(4, frames); f++) tail += (10 ** (data[f * bands + b]! / 10) - floor) / Math.min(4, frames);
    for (let f = 0; f < frames; f++) {
      const i = f * bands + b;
      const p = Math.max(0, 10 ** (data[i]! / 10) - floor);
      tail = a * tail + (1 - a) * p;
      data[i] = 10 * Math.log10(p + g * tail + floor);
    }
  }
}

/**
 * Moves every frame's spectrum by a frequency factor `r` (r > 1: up), in place: band b takes the value
 * the frames had at frequency centre(b) / r, interpolated linearly between the bands around it on the
 * band scale of `c` (mel or linear). What comes from above the top band is the noise floor (nothing was
 * recorded there); what comes from below the bottom band is the bottom band.
 */
export function pitchShiftFrames(
  w: WindowFrames,
  r: number,
  c: Pick<FeatureConfig, 'frequencyScale' | 'fMinHz' | 'fMaxHz' | 'noiseFloorDb'>,
): void {
  const { frames, bands, data } = w;
  const mel = c.frequencyScale === 'mel';
  const scale = (hz: number) => (mel ? hzToMel(hz) : hz);
  const unscale = (v: number) => (mel ? melToHz(v) : v);
  const lo = scale(c.fMinHz);
  const hi = scale(c.fMaxHz);
  // band b's centre on the scale: mel triangles have theirs at edge b + 1 of bands + 2; linear bands at b + 0.5 of bands
  const centre = (b: number) => (mel ? lo + ((hi - lo) * (b + 1)) / (bands + 1) : lo + ((hi - lo) * (b + 0.5)) / bands);
  const indexOf = (v: number) => (mel ? ((v - lo) * (bands + 1)) / (hi - lo) - 1 : ((v - lo) * bands) / (hi - lo) - 0.5);
  const src = Float64Array.from({ length: bands }, (_, b) => indexOf(scale(unscale(centre(b)) / r)));
  const row = new Float32Array(bands);
  for (let f = 0; f < frames; f++) {
    const o = f * bands;
    row.set(data.subarray(o, o + bands));
    for (let b = 0; b < bands; b++) {
      const x = Math.max(0, src[b]!);
      if (x > bands - 1) {
        data[o + b] = c.noiseFloorDb;
        continue;
      }
      const i = Math.min(bands - 2, Math.floor(x));
      const t = x - i;
      data[o + b] = row[i]! * (1 - t) + row[i + 1]! * t;
    }
  }
}

/**
 * Spectral augmentation of a window's dB frames, in place.
 * @param c the feature config the frames were computed with (its noise floor and STFT hop).
 */
export function augmentFrames(w: WindowFrames, rng: Random, o: AugmentOptions, c?: FeatureConfig): void {
  const { frames, bands, data } = w;
  const floorDb = c?.noiseFloorDb ?? -90;
  // drawn only when on, so that recipes without it keep their random streams
  if (o.pitchProbability && c && rng.next() < o.pitchProbability) {
    const [a, b] = o.pitchRange ?? DEFAULT_PITCH_RANGE;
    pitchShiftFrames(w, Math.exp(rng.uniform(Math.log(a), Math.log(b))), c);
  }
  if (rng.next() < o.bandLimitProbability) bandLimit(w, rng, o, floorDb);
  if (rng.next() < o.reverbProbability) reverberate(w, rng, o, c ? c.stftHopSamples / c.sampleRateHz : 0.0156, floorDb);
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
export function augmentedWindow(x: Float32Array, c: FeatureConfig, rng: Random, o: AugmentOptions, sources: MixSources = {}): WindowFrames {
  const y = augmentWaveform(x, rng, o, sources);
  const [w] = frameSignal(y, c);
  if (!w) throw new Error(`augmented clip of ${y.length} samples is shorter than a window`);
  augmentFrames(w, rng, o, c);
  return w;
}

/** Model-input images of augmented copies of many windows of audio, rendered in one batch. */
export async function renderAugmented(
  xs: readonly Float32Array[],
  c: FeatureConfig,
  rng: Random,
  o: AugmentOptions,
  sources: MixSources = {},
): Promise<Uint8Array[]> {
  return renderWindowImages(
    xs.map((x) => augmentedWindow(x, c, rng, o, sources)),
    c,
  );
}
