/**
 * The one rendering path: a window's dB spectrogram → colormapped RGB image (low frequencies at the
 * bottom, time left to right) → sharp resize to imageSize² → the model-input image, as bytes (HWC).
 * Bytes are the currency from here to the model: the one conversion to [0, 1] floats is the
 * classifier's (`toModelInput` in src/model/classifier.ts).
 *
 * All three channels carry the colormap (the capstone kept only `pixel[0]`).
 */
import sharp from 'sharp';
import type { FeatureConfig } from '../config.ts';
import { colormapLut } from './colormap.ts';
import type { WindowFrames } from './framer.ts';

/** An RGB image, row-major, 3 bytes per pixel. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

// libvips caches operations by default; the feature path never repeats an input, so caching only costs memory.
sharp.cache(false);

/**
 * Maps dB values onto colormap levels 0..255 per the config's reference and range.
 * Returns the image before resizing: height = bands (top row = highest band), width = frames.
 */
export function colorize(w: WindowFrames, c: FeatureConfig): RgbImage {
  const out = new Uint8Array(w.frames * w.bands * 3);
  colorizeInto(w, c, out, 0);
  return { width: w.frames, height: w.bands, data: out };
}

/**
 * {@link colorize} into `out` from byte `offset` (frames·bands·3 bytes), so that a batch of windows is
 * coloured straight into the one buffer sharp resizes. Writes the image row by row (sequential
 * stores); the level of each cell is computed exactly as before, so the bytes do not change.
 */
function colorizeInto(w: WindowFrames, c: FeatureConfig, out: Uint8Array, offset: number): void {
  const { frames, bands, data } = w;
  let ref = 0;
  if (c.dbReference === 'window-max') {
    ref = -Infinity;
    for (let i = 0; i < data.length; i++) if (data[i]! > ref) ref = data[i]!;
  }
  const lo = ref - c.dbRangeDb;
  const k = 255 / c.dbRangeDb;
  const lut = colormapLut(c.colormap);
  let px = offset;
  for (let b = bands - 1; b >= 0; b--) {
    for (let i = b; i < frames * bands; i += bands) {
      let level = Math.round((data[i]! - lo) * k);
      level = level < 0 ? 0 : Math.min(level, 255);
      const l3 = 3 * level;
      out[px] = lut[l3]!;
      out[px + 1] = lut[l3 + 1]!;
      out[px + 2] = lut[l3 + 2]!;
      px += 3;
    }
  }
}

/** Resizes an RGB image to size×size with sharp (the only resize used anywhere in Soundee). */
export async function resizeRgb(img: RgbImage, size: number, kernel: FeatureConfig['resizeKernel']): Promise<Uint8Array> {
  const buf = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(size, size, { fit: 'fill', kernel })
    .raw()
    .toBuffer();
  if (buf.length !== size * size * 3) throw new Error(`resize produced ${buf.length} bytes, expected ${size * size * 3}`);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

/** The model input image of one window, as bytes (imageSize × imageSize × 3, HWC). */
export async function renderWindowImage(w: WindowFrames, c: FeatureConfig): Promise<Uint8Array> {
  return resizeRgb(colorize(w, c), c.imageSize, c.resizeKernel);
}

/**
 * The model-input images of many windows, byte-identical to rendering each with renderWindowImage.
 * When the spectrogram already has imageSize rows (the default), the resize only reduces time, each
 * row on its own, so the windows are stacked vertically and resized in one sharp call (a test checks
 * the identity); otherwise each window is resized on its own.
 */
export async function renderWindowImages(ws: readonly WindowFrames[], c: FeatureConfig): Promise<Uint8Array[]> {
  if (ws.length === 0) return [];
  const { frames: width, bands: height } = ws[0]!;
  if (height !== c.imageSize || ws.length === 1 || ws.some((w) => w.frames !== width || w.bands !== height))
    return Promise.all(ws.map((w) => resizeRgb(colorize(w, c), c.imageSize, c.resizeKernel)));
  const one = width * height * 3;
  const stacked = new Uint8Array(one * ws.length);
  ws.forEach((w, k) => {
    colorizeInto(w, c, stacked, k * one);
  });
  const out = await sharp(stacked, { raw: { width, height: height * ws.length, channels: 3 } })
    .resize(c.imageSize, height * ws.length, { fit: 'fill', kernel: c.resizeKernel })
    .raw()
    .toBuffer();
  const px = c.imageSize * c.imageSize * 3;
  if (out.length !== px * ws.length) throw new Error(`batched resize produced ${out.length} bytes, expected ${px * ws.length}`);
  return ws.map((_, k) => new Uint8Array(out.buffer, out.byteOffset + k * px, px));
}

/**
 * Collects windows from any number of streams and renders whatever is queued in one batch
 * (renderWindowImages), so a busy server or a fast replay pays one sharp call per batch, while a
 * lone real-time stream still gets its window rendered at once.
 *
 * A sharp call costs about 0.7 ms of CPU whatever its size (libvips builds a pipeline each time),
 * plus some 30 µs per window; running calls side by side on the libuv pool makes each one dearer.
 * So at most `maxInFlight` calls run at once, and windows that arrive meanwhile wait for the next
 * batch: under load the batches grow by themselves, while an idle queue adds no delay.
 */
export const DEFAULT_RENDER_QUEUE = Object.freeze({
  /** Windows per sharp call. */
  maxBatch: 256,
  /** sharp calls running at once. */
  maxInFlight: 1,
});

export class RenderQueue {
  private queue: { w: WindowFrames; resolve: (x: Uint8Array) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;
  private inFlight = 0;
  /** Batches rendered so far and their sizes (for benchmarks). */
  readonly stats = { batches: 0, items: 0, maxBatchSeen: 0 };

  /**
   * @param config the feature config of every window queued.
   * @param maxBatch windows per sharp call, default 256.
   * @param maxInFlight sharp calls running at once, default 1.
   */
  constructor(
    readonly config: FeatureConfig,
    private readonly maxBatch: number = DEFAULT_RENDER_QUEUE.maxBatch,
    private readonly maxInFlight: number = DEFAULT_RENDER_QUEUE.maxInFlight,
  ) {
    if (!(Number.isInteger(maxBatch) && maxBatch >= 1)) throw new RangeError(`maxBatch must be a positive integer, got ${maxBatch}`);
    if (!(Number.isInteger(maxInFlight) && maxInFlight >= 1))
      throw new RangeError(`maxInFlight must be a positive integer, got ${maxInFlight}`);
  }

  /** The model-input image of `w`, rendered with the next batch. */
  image(w: WindowFrames): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.queue.push({ w, resolve, reject });
      this.schedule();
    });
  }

  /** Windows waiting for a batch. */
  get pending(): number {
    return this.queue.length;
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
    this.scheduled = true;
    // setImmediate lets windows that arrive in the same turn join the batch.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    while (this.queue.length && this.inFlight < this.maxInFlight) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight++;
      this.stats.batches++;
      this.stats.items += batch.length;
      this.stats.maxBatchSeen = Math.max(this.stats.maxBatchSeen, batch.length);
      renderWindowImages(
        batch.map((b) => b.w),
        this.config,
      )
        .then(
          (imgs) =>
            batch.forEach((b, i) => {
              b.resolve(imgs[i]!);
            }),
          (e: unknown) =>
            batch.forEach((b) => {
              b.reject(e);
            }),
        )
        .finally(() => {
          this.inFlight--;
          this.schedule();
        });
    }
  }
}
