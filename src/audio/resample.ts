/**
 * Sample-rate conversion: the one rule every route to the model's rate takes (files, `/v1/ingest`,
 * the microphone). libsamplerate's band-limited sinc converter (compiled to WebAssembly), so that a
 * 44.1 kHz recording reaching a 16 kHz model is not aliased, run as a stream: chunks in, chunks out,
 * with the filter state carried across chunks, so the output does not depend on how the input is
 * cut. At the end of the stream the filter is flushed (its tail computed from silence after the last
 * sample) and the output is cut to the input's duration: ⌈n · to / from⌉ samples for n in — so a
 * 3.0 s file gives exactly 3.0 s at the model's rate and its last window is not lost.
 *
 * The converter is named in the feature config (`resampler`), so a model records which rule its
 * training audio went through.
 */
import libsamplerate from '@alexanderolsen/libsamplerate-js';
import { type Resampler, SoundeeError } from '../config.ts';

// The package is CommonJS: take its named members from the default export.
const { create, ConverterType } = libsamplerate;

/** libsamplerate's converter for each resampler name of the feature config. */
const CONVERTERS: Record<Resampler, number> = {
  'sinc-best': ConverterType.SRC_SINC_BEST_QUALITY,
  'sinc-medium': ConverterType.SRC_SINC_MEDIUM_QUALITY,
  'sinc-fastest': ConverterType.SRC_SINC_FASTEST,
};

/** Silence fed per step while flushing: 100 ms at the input rate covers the filter's delay (≈ 3 ms for sinc-medium) many times over. */
const flushBlock = (fromHz: number): number => Math.ceil(fromHz / 10);

/** A streaming resampler for one mono stream (keeps filter state across chunks). */
export class StreamResampler {
  private inFrames = 0;
  private outFrames = 0;
  private done = false;

  private constructor(
    private readonly src: Awaited<ReturnType<typeof create>>,
    readonly fromHz: number,
    readonly toHz: number,
  ) {}

  /**
   * @param kind the converter (the feature config's `resampler`). Default 'sinc-medium'.
   * @throws SoundeeError ERR_RESAMPLER for rates libsamplerate refuses.
   */
  static async create(fromHz: number, toHz: number, kind: Resampler = 'sinc-medium'): Promise<StreamResampler> {
    try {
      return new StreamResampler(await create(1, fromHz, toHz, { converterType: CONVERTERS[kind] as 1 }), fromHz, toHz);
    } catch (e) {
      throw new SoundeeError('ERR_RESAMPLER', `cannot resample ${fromHz} Hz to ${toHz} Hz: ${String(e)}`, { cause: e });
    }
  }

  /** Output samples the input so far spans: ⌈n · to / from⌉ (exact in integers for any realistic n). */
  private target(): number {
    return Math.floor((this.inFrames * this.toHz + this.fromHz - 1) / this.fromHz);
  }

  /** Resamples the next chunk; the output length varies by a sample around chunk · ratio, minus the filter's delay at first. */
  push(chunk: Float32Array): Float32Array {
    if (this.done) throw new SoundeeError('ERR_RESAMPLER', 'push after flush: the stream has ended');
    if (chunk.length === 0) return new Float32Array(0);
    this.inFrames += chunk.length;
    // full() copies out of a WASM buffer that the next call overwrites: slice() keeps the result
    const out = this.src.full(chunk).slice();
    this.outFrames += out.length;
    return out;
  }

  /**
   * Ends the stream: returns the rest of the output, computed from silence after the last sample and
   * cut so that the whole output has ⌈n · to / from⌉ samples. `push` is refused afterwards.
   */
  flush(): Float32Array {
    if (this.done) return new Float32Array(0);
    this.done = true;
    const want = this.target() - this.outFrames;
    if (want <= 0) return new Float32Array(0);
    const parts: Float32Array[] = [];
    let got = 0;
    const zeros = new Float32Array(flushBlock(this.fromHz));
    while (got < want) {
      const out = this.src.full(zeros).slice();
      parts.push(out);
      got += out.length;
    }
    const tail = new Float32Array(want);
    let o = 0;
    for (const p of parts) {
      const n = Math.min(p.length, want - o);
      tail.set(p.subarray(0, n), o);
      o += n;
    }
    this.outFrames += want;
    return tail;
  }

  destroy(): void {
    this.src.destroy();
  }
}

/**
 * Resamples a whole mono signal by the streaming rule (one push, then the flush): the same samples a
 * stream of it gives, whatever its chunking.
 * @returns a new signal at `toHz`; the input itself when the rates are equal.
 */
export async function resample(
  samples: Float32Array,
  fromHz: number,
  toHz: number,
  kind: Resampler = 'sinc-medium',
): Promise<Float32Array> {
  if (fromHz === toHz) return samples;
  const r = await StreamResampler.create(fromHz, toHz, kind);
  try {
    const head = r.push(samples);
    const tail = r.flush();
    const out = new Float32Array(head.length + tail.length);
    out.set(head);
    out.set(tail, head.length);
    return out;
  } finally {
    r.destroy();
  }
}
