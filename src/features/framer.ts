/**
 * Framing: mono samples in, windows of STFT dB frames out. The one `Framer` is used by every command,
 * on whole files and on streams alike.
 *
 * STFT frames lie on one global grid (frame k starts at sample k·stftHop), and a window hop is a whole
 * number of STFT hops, so each frame is computed once and shared by the (typically four) windows that
 * overlap it. The output does not depend on how the input is chunked.
 */
import { type FeatureConfig, framesPerHop, framesPerWindow, hopSamples, windowSamples } from '../config.ts';
import { FrameAnalyzer } from '../dsp/spectrogram.ts';

/** One window's spectrogram: `frames` rows of `bands` dB values, frame-major (time, then frequency). */
export interface WindowFrames {
  /** Window number from the start of the stream (0, 1, …). */
  readonly index: number;
  /** First sample of the window, counted from the start of the stream. */
  readonly startSample: number;
  /** dB values, frames × bands, frame-major; low bands first within a frame. */
  readonly data: Float32Array;
  readonly frames: number;
  readonly bands: number;
  /** Peak absolute sample value in the window (for health and clipping checks). */
  readonly peak: number;
  /** RMS level of the window in dBFS (-Infinity for digital silence). */
  readonly rmsDb: number;
}

/**
 * Peak absolute value and RMS level (dBFS, -Infinity for digital silence) of `n` samples from `offset`:
 * the levels every window carries, and that the level gate reads.
 */
export function levels(samples: Float32Array, offset = 0, n = samples.length - offset): { peak: number; rmsDb: number } {
  let sq = 0;
  let peak = 0;
  for (let i = 0; i < n; i++) {
    const v = samples[offset + i]!;
    sq += v * v;
    const a = Math.abs(v);
    if (a > peak) peak = a;
  }
  return { peak, rmsDb: 20 * Math.log10(Math.sqrt(sq / n)) };
}

/** Streaming framer. Feed it samples with `push`; it returns the windows that became complete. */
export class Framer {
  readonly config: FeatureConfig;
  private readonly analyzer: FrameAnalyzer;
  private readonly fpw: number;
  private readonly fph: number;
  private readonly winLen: number;
  private readonly hopLen: number;
  /** Pending samples; buf[0] is stream sample `bufStart`. */
  private buf: Float32Array;
  private bufLen = 0;
  private bufStart = 0;
  /** Ring of computed frames: frame k lives at row k % ringRows. */
  private readonly ring: Float32Array;
  private readonly ringRows: number;
  private nextFrame = 0;
  private nextWindow = 0;
  private totalSamples = 0;

  constructor(config: FeatureConfig) {
    this.config = config;
    this.analyzer = new FrameAnalyzer(config);
    this.fpw = framesPerWindow(config);
    this.fph = framesPerHop(config);
    this.winLen = windowSamples(config);
    this.hopLen = hopSamples(config);
    this.ringRows = this.fpw + this.fph + 1;
    this.ring = new Float32Array(this.ringRows * config.bands);
    this.buf = new Float32Array(Math.max(4 * this.winLen, 1 << 14));
  }

  /** Samples consumed so far. */
  get samplesSeen(): number {
    return this.totalSamples;
  }

  /**
   * Appends mono samples (any length, including 0) and returns the windows completed by them, in order.
   * `samples` is copied; the caller may reuse it.
   */
  push(samples: Float32Array): WindowFrames[] {
    const out: WindowFrames[] = [];
    let pos = 0;
    while (pos < samples.length) {
      const room = this.buf.length - this.bufLen;
      if (room === 0) this.makeRoom();
      const n = Math.min(samples.length - pos, this.buf.length - this.bufLen);
      this.buf.set(samples.subarray(pos, pos + n), this.bufLen);
      this.bufLen += n;
      this.totalSamples += n;
      pos += n;
      this.drain(out);
    }
    return out;
  }

  /**
   * Ends the stream and applies the pad rule (`padToWindow`): a stream shorter than one window gets
   * silence after its last sample up to one window, and so exactly the one window a clip of it gets in
   * `renderClip`. Longer streams end with their last complete window (a partial hop is not padded).
   * @returns the window the padding completed, if any.
   */
  finish(): WindowFrames[] {
    const missing = this.winLen - this.totalSamples;
    if (this.totalSamples === 0 || missing <= 0) return [];
    return this.push(new Float32Array(missing));
  }

  /** Computes every frame and window the buffered samples allow. */
  private drain(out: WindowFrames[]): void {
    const { fftSize, stftHopSamples, bands } = this.config;
    const end = this.bufStart + this.bufLen;
    for (;;) {
      const frameStart = this.nextFrame * stftHopSamples;
      const windowStart = this.nextWindow * this.hopLen;
      // A window is due when its last frame exists and all its samples arrived (levels need them).
      const lastFrame = this.nextWindow * this.fph + this.fpw - 1;
      if (this.nextFrame > lastFrame && windowStart + this.winLen <= end) {
        out.push(this.emitWindow(windowStart));
        this.nextWindow++;
        continue;
      }
      if (frameStart + fftSize <= end && this.nextFrame <= lastFrame) {
        const row = (this.nextFrame % this.ringRows) * bands;
        this.analyzer.analyze(this.buf, frameStart - this.bufStart, this.ring, row);
        this.nextFrame++;
        continue;
      }
      break;
    }
  }

  private emitWindow(windowStart: number): WindowFrames {
    const { bands } = this.config;
    const first = this.nextWindow * this.fph;
    const data = new Float32Array(this.fpw * bands);
    for (let f = 0; f < this.fpw; f++) {
      const row = ((first + f) % this.ringRows) * bands;
      data.set(this.ring.subarray(row, row + bands), f * bands);
    }
    const { peak, rmsDb } = levels(this.buf, windowStart - this.bufStart, this.winLen);
    return { index: this.nextWindow, startSample: windowStart, data, frames: this.fpw, bands, peak, rmsDb };
  }

  /** Drops samples no future frame or window needs; grows the buffer if it is still full. */
  private makeRoom(): void {
    const keepFrom = Math.min(this.nextFrame * this.config.stftHopSamples, this.nextWindow * this.hopLen);
    const drop = keepFrom - this.bufStart;
    if (drop > 0) {
      this.buf.copyWithin(0, drop, this.bufLen);
      this.bufLen -= drop;
      this.bufStart = keepFrom;
    }
    if (this.bufLen === this.buf.length) {
      const bigger = new Float32Array(this.buf.length * 2);
      bigger.set(this.buf);
      this.buf = bigger;
    }
  }
}

/**
 * The pad rule, one for every command: a clip shorter than one window is padded with silence at its
 * end to one window (the noise floor makes the padding neutral), so that it gives one prediction;
 * longer clips are left as they are (their windows are the complete ones). `Framer.finish` applies
 * the same rule at the end of a stream.
 * @returns `samples` itself when it is at least a window long, else a padded copy.
 */
export function padToWindow(samples: Float32Array, config: FeatureConfig): Float32Array {
  const n = windowSamples(config);
  if (samples.length >= n || samples.length === 0) return samples;
  const out = new Float32Array(n);
  out.set(samples);
  return out;
}

/** All complete windows of a whole signal, through the same `Framer` that streams use (no padding: see `padToWindow`). */
export function frameSignal(samples: Float32Array, config: FeatureConfig): WindowFrames[] {
  return new Framer(config).push(samples);
}
