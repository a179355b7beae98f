/**
 * Sample-rate conversion with libsamplerate (compiled to WebAssembly): band-limited sinc resampling,
 * so that a 44.1 kHz file replayed into a 16 kHz model is not aliased.
 */
import libsamplerate from '@alexanderolsen/libsamplerate-js';

// The package is CommonJS: take its named members from the default export.
const { create, ConverterType } = libsamplerate;

/**
 * Resamples a whole mono signal.
 * @returns a new signal at `toHz`; the input itself when the rates are equal.
 */
export async function resample(samples: Float32Array, fromHz: number, toHz: number): Promise<Float32Array> {
  if (fromHz === toHz) return samples;
  const src = await create(1, fromHz, toHz, { converterType: ConverterType.SRC_SINC_MEDIUM_QUALITY });
  try {
    // libsamplerate's simple() copies through a fixed WASM buffer; slice() detaches the result from it.
    return src.simple(samples).slice();
  } finally {
    src.destroy();
  }
}

/** A streaming resampler for one mono stream (keeps filter state across chunks). */
export class StreamResampler {
  private constructor(private readonly src: Awaited<ReturnType<typeof create>>) {}

  static async create(fromHz: number, toHz: number): Promise<StreamResampler> {
    return new StreamResampler(await create(1, fromHz, toHz, { converterType: ConverterType.SRC_SINC_MEDIUM_QUALITY }));
  }

  /** Resamples the next chunk; the output length varies by a sample around chunk · ratio. */
  push(chunk: Float32Array): Float32Array {
    return this.src.full(chunk).slice();
  }

  destroy(): void {
    this.src.destroy();
  }
}
