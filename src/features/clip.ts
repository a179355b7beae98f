/**
 * A whole clip through the feature path: the pad rule, framing and rendering in one call, the way
 * `dataset build`, `evaluate` and `predict` see a clip (and, window for window, the way a stream of
 * the same samples is seen by `replay`, `listen` and ingest).
 */
import { StreamResampler } from '../audio/resample.ts';
import { WavReader } from '../audio/wav-reader.ts';
import type { FeatureConfig } from '../config.ts';
import { Framer, type WindowFrames, frameSignal, padToWindow } from './framer.ts';
import { renderWindowImages } from './render.ts';

/** A clip's windows and their model-input images. */
export interface RenderedClip {
  /** The samples the windows were cut from (the clip, padded to one window when it was shorter). */
  readonly samples: Float32Array;
  readonly windows: readonly WindowFrames[];
  /** One model-input image per window (imageSize² · 3 bytes, HWC). */
  readonly images: readonly Uint8Array[];
}

/**
 * Renders every window of a clip (mono, at the config's rate): padded to one window when shorter
 * (`padToWindow`), framed by the one `Framer`, rendered by `renderWindowImages`.
 */
export async function renderClip(samples: Float32Array, config: FeatureConfig): Promise<RenderedClip> {
  const padded = padToWindow(samples, config);
  const windows = frameSignal(padded, config);
  return { samples: padded, windows, images: await renderWindowImages(windows, config) };
}

/** Defaults of `renderFile`. */
export const DEFAULT_RENDER_FILE = Object.freeze({
  /** Windows rendered per batch (one sharp call each): 16 s of audio at the default 250 ms hop. */
  batchWindows: 64,
});

/**
 * Renders every window of a WAV file as a stream: read and decoded a chunk at a time, resampled to
 * the config's rate by its rule (flushed at the end), framed, padded when the whole file is shorter
 * than one window, rendered in batches — the windows and images `renderClip(loadAudio(path))` gives,
 * with memory flat whatever the length of the file. A batch's `padded` says that its last window was
 * completed by the pad rule (the file is shorter than one window).
 * @throws SoundeeError for a file that cannot be read or is not a supported WAV.
 */
export async function* renderFile(
  path: string,
  config: FeatureConfig,
  { batchWindows = DEFAULT_RENDER_FILE.batchWindows }: { batchWindows?: number } = {},
): AsyncGenerator<{ windows: WindowFrames[]; images: Uint8Array[]; padded: boolean }> {
  const reader = await WavReader.open(path);
  let resampler: StreamResampler | undefined;
  const framer = new Framer(config);
  let pending: WindowFrames[] = [];
  const batch = async (padded = false) => {
    const windows = pending;
    pending = [];
    return { windows, images: await renderWindowImages(windows, config), padded };
  };
  try {
    if (reader.sampleRateHz !== config.sampleRateHz)
      resampler = await StreamResampler.create(reader.sampleRateHz, config.sampleRateHz, config.resampler);
    for await (const chunk of reader.chunks()) {
      pending.push(...framer.push(resampler ? resampler.push(chunk) : chunk));
      while (pending.length >= batchWindows) {
        const rest = pending.slice(batchWindows);
        pending = pending.slice(0, batchWindows);
        yield await batch();
        pending = rest;
      }
    }
    if (resampler) pending.push(...framer.push(resampler.flush()));
    const pad = framer.finish();
    pending.push(...pad);
    if (pending.length) yield await batch(pad.length > 0);
  } finally {
    resampler?.destroy();
    await reader.close();
  }
}
