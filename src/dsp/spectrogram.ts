/**
 * STFT frames → band powers in dB. Pure functions over typed arrays plus the feature config.
 */
import type { FeatureConfig } from '../config.ts';
import { RealFft } from './fft.ts';

/** Window function of length n ("periodic" form, as used for STFT analysis). */
export function makeWindow(kind: FeatureConfig['windowFunction'], n: number): Float64Array {
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = (2 * Math.PI * i) / n;
    w[i] =
      kind === 'hann'
        ? 0.5 - 0.5 * Math.cos(x)
        : kind === 'hamming'
          ? 0.54 - 0.46 * Math.cos(x)
          : kind === 'blackman'
            ? 0.42 - 0.5 * Math.cos(x) + 0.08 * Math.cos(2 * x)
            : 1;
  }
  return w;
}

/** Hz → mel (HTK formula). */
export const hzToMel = (hz: number): number => 2595 * Math.log10(1 + hz / 700);
/** mel → Hz (HTK formula). */
export const melToHz = (mel: number): number => 700 * (10 ** (mel / 2595) - 1);

/**
 * A band filterbank as a sparse matrix: for band b, weights over FFT bins start[b]..start[b]+weights[b].length-1.
 * Mel: triangles equally spaced on the mel scale, each normalised to unit area (so band power does not
 * grow with bandwidth). Linear: equal-width rectangles. Bands too narrow to contain a bin take the
 * nearest bin, so no row is ever empty.
 */
export interface Filterbank {
  readonly bands: number;
  readonly start: Int32Array;
  readonly weights: Float64Array[];
}

export function makeFilterbank(c: FeatureConfig): Filterbank {
  const nBins = c.fftSize / 2 + 1;
  const binHz = c.sampleRateHz / c.fftSize;
  const start = new Int32Array(c.bands);
  const weights: Float64Array[] = [];
  const edges = new Float64Array(c.bands + 2);
  if (c.frequencyScale === 'mel') {
    const lo = hzToMel(c.fMinHz);
    const hi = hzToMel(c.fMaxHz);
    for (let i = 0; i < edges.length; i++) edges[i] = melToHz(lo + ((hi - lo) * i) / (c.bands + 1));
  }
  for (let b = 0; b < c.bands; b++) {
    let w: number[] = [];
    let first = 0;
    if (c.frequencyScale === 'mel') {
      const [l, m, r] = [edges[b]!, edges[b + 1]!, edges[b + 2]!];
      first = Math.max(0, Math.ceil(l / binHz));
      for (let k = first; k < nBins && k * binHz <= r; k++) {
        const f = k * binHz;
        w.push(Math.max(0, f <= m ? (f - l) / (m - l) : (r - f) / (r - m)));
      }
    } else {
      const l = c.fMinHz + ((c.fMaxHz - c.fMinHz) * b) / c.bands;
      const r = c.fMinHz + ((c.fMaxHz - c.fMinHz) * (b + 1)) / c.bands;
      first = Math.ceil(l / binHz);
      for (let k = first; k < nBins && k * binHz < r; k++) w.push(1);
    }
    // trim zero weights at both ends
    while (w.length && w[0] === 0) {
      w.shift();
      first++;
    }
    while (w.length && w[w.length - 1] === 0) w.pop();
    if (w.length === 0) {
      const centre = c.frequencyScale === 'mel' ? edges[b + 1]! : c.fMinHz + ((c.fMaxHz - c.fMinHz) * (b + 0.5)) / c.bands;
      first = Math.min(nBins - 1, Math.round(centre / binHz));
      w = [1];
    }
    const sum = w.reduce((a, x) => a + x, 0);
    start[b] = first;
    weights.push(Float64Array.from(w, (x) => x / sum));
  }
  return { bands: c.bands, start, weights };
}

/**
 * Computes the dB rows of STFT frames. One instance per stream (it owns scratch buffers).
 * A frame's dB value is 10·log10(band power + noise floor), where band power is scaled so that a
 * full-scale sine (amplitude 1) peaking in one band reads about 0 dB.
 *
 * Per frame this is one fft.js transform plus a few hundred multiply-adds: no allocation, and the
 * filterbank is one flat weight array read in the same order as {@link Filterbank}'s rows (so the
 * sums, and the output, are bit-for-bit those of the row-by-row form).
 */
export class FrameAnalyzer {
  readonly config: FeatureConfig;
  private readonly fft: RealFft;
  private readonly window: Float64Array;
  private readonly frame: Float64Array;
  private readonly power: Float64Array;
  /** The filterbank's rows laid end to end; band b's weights are flat[offset[b] .. offset[b+1]). */
  private readonly flat: Float64Array;
  private readonly offset: Int32Array;
  private readonly start: Int32Array;
  /** FFT bins the filterbank reads (0..bins-1); the power of higher bins is never computed. */
  private readonly bins: number;
  private readonly scale: number;
  private readonly floor: number;

  constructor(config: FeatureConfig) {
    this.config = config;
    this.fft = RealFft.of(config.fftSize);
    this.window = makeWindow(config.windowFunction, config.fftSize);
    this.frame = new Float64Array(config.fftSize);
    this.power = new Float64Array(config.fftSize / 2 + 1);
    const bank = makeFilterbank(config);
    this.start = bank.start;
    this.offset = new Int32Array(bank.bands + 1);
    bank.weights.forEach((w, b) => {
      this.offset[b + 1] = this.offset[b]! + w.length;
    });
    this.flat = new Float64Array(this.offset[bank.bands]!);
    bank.weights.forEach((w, b) => {
      this.flat.set(w, this.offset[b]!);
    });
    this.bins = Math.max(...bank.weights.map((w, b) => bank.start[b]! + w.length));
    const wsum = this.window.reduce((a, x) => a + x, 0);
    // |X[k]| of a unit sine at a bin centre is wsum/2: scale power so it reads 1 (0 dB).
    this.scale = 4 / (wsum * wsum);
    this.floor = 10 ** (config.noiseFloorDb / 10);
  }

  /**
   * Analyses the frame starting at `offset` in `samples` and writes `bands` dB values into `out` at `outOffset`.
   * @param samples mono signal in [-1, 1]; needs fftSize samples from offset.
   */
  analyze(samples: Float32Array, offset: number, out: Float32Array, outOffset: number): void {
    const n = this.config.fftSize;
    const { frame, window, power, flat, start, scale, floor } = this;
    const bandOffset = this.offset;
    for (let i = 0; i < n; i++) frame[i] = samples[offset + i]! * window[i]!;
    this.fft.powerSpectrum(frame, power, this.bins);
    const bands = this.config.bands;
    for (let b = 0; b < bands; b++) {
      const end = bandOffset[b + 1]!;
      let k = start[b]!;
      let acc = 0;
      for (let j = bandOffset[b]!; j < end; j++) acc += flat[j]! * power[k++]!;
      out[outOffset + b] = 10 * Math.log10(acc * scale + floor);
    }
  }
}
