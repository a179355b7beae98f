/**
 * The one adapter around fft.js: it hides fft.js's untyped interleaved API and reuses one FFT
 * instance (and its scratch buffers) per size.
 */
import FFT from 'fft.js';

interface FftJs {
  createComplexArray(): number[];
  realTransform(out: number[] | Float64Array, input: ArrayLike<number>): void;
  completeSpectrum(spectrum: number[] | Float64Array): void;
  transform(out: number[] | Float64Array, input: ArrayLike<number>): void;
  inverseTransform(out: number[] | Float64Array, input: ArrayLike<number>): void;
}

const cache = new Map<number, RealFft>();

/** Real-input FFT of a fixed power-of-two size. */
export class RealFft {
  readonly size: number;
  private readonly fft: FftJs;
  private readonly out: Float64Array;

  private constructor(size: number) {
    if (!Number.isInteger(size) || size < 2 || (size & (size - 1)) !== 0)
      throw new RangeError(`FFT size must be a power of two ≥ 2, got ${size}`);
    this.size = size;
    this.fft = new (FFT as unknown as new (n: number) => FftJs)(size);
    this.out = new Float64Array(2 * size);
  }

  /** The shared instance for `size` (not re-entrant: callers use the result before the next call). */
  static of(size: number): RealFft {
    let f = cache.get(size);
    if (!f) cache.set(size, (f = new RealFft(size)));
    return f;
  }

  /**
   * Power |X[k]|² of bins 0..size/2 of a real frame (or of bins 0..bins-1 only).
   * fft.js is fastest with Float64Array input and output (about 20 % faster than plain arrays here),
   * so frames come in and the spectrum stays in Float64Arrays allocated once.
   * @param frame exactly `size` samples (already windowed).
   * @param power output of length size/2 + 1.
   * @param bins how many bins to compute, 1..size/2+1 (default all): callers whose filterbank ends
   *   below Nyquist skip the bins it never reads.
   */
  powerSpectrum(frame: Float64Array, power: Float64Array, bins = this.size / 2 + 1): void {
    if (frame.length !== this.size || power.length !== this.size / 2 + 1) throw new RangeError('powerSpectrum: wrong buffer length');
    if (!(bins >= 1 && bins <= this.size / 2 + 1))
      throw new RangeError(`powerSpectrum: bins must be in [1, ${this.size / 2 + 1}], got ${bins}`);
    this.fft.realTransform(this.out, frame);
    const o = this.out;
    for (let k = 0; k < bins; k++) {
      const re = o[2 * k]!;
      const im = o[2 * k + 1]!;
      power[k] = re * re + im * im;
    }
  }

  /** Full complex spectrum (interleaved re, im) of a real frame; for tests and tools. */
  complexSpectrum(frame: ArrayLike<number>): Float64Array {
    const out = new Float64Array(2 * this.size);
    this.fft.realTransform(out, frame);
    this.fft.completeSpectrum(out);
    return out;
  }
}
