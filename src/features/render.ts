/**
 * The one rendering path: a window's dB spectrogram → colormapped RGB image (low frequencies at the
 * bottom, time left to right) → sharp resize to imageSize² → Float32 HWC tensor data in [0, 1].
 *
 * All three channels carry the colormap (the capstone kept only `pixel[0]`).
 */
import sharp from 'sharp';
import { type FeatureConfig } from '../config.ts';
import { colormapLut } from './colormap.ts';
import { type WindowFrames } from './framer.ts';

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
  const { frames, bands, data } = w;
  let ref = 0;
  if (c.dbReference === 'window-max') {
    ref = -Infinity;
    for (let i = 0; i < data.length; i++) if (data[i]! > ref) ref = data[i]!;
  }
  const lo = ref - c.dbRangeDb;
  const k = 255 / c.dbRangeDb;
  const lut = colormapLut(c.colormap);
  const out = new Uint8Array(frames * bands * 3);
  for (let f = 0; f < frames; f++) {
    for (let b = 0; b < bands; b++) {
      let level = Math.round((data[f * bands + b]! - lo) * k);
      level = level < 0 ? 0 : level > 255 ? 255 : level;
      const px = ((bands - 1 - b) * frames + f) * 3;
      out[px] = lut[3 * level]!;
      out[px + 1] = lut[3 * level + 1]!;
      out[px + 2] = lut[3 * level + 2]!;
    }
  }
  return { width: frames, height: bands, data: out };
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

/** Pixels (bytes) → model input values in [0, 1] (the capstone's /255). */
export function toUnitFloat(pixels: Uint8Array): Float32Array {
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = pixels[i]! / 255;
  return out;
}

/** The model input image of one window, as bytes (imageSize × imageSize × 3, HWC). */
export async function renderWindowImage(w: WindowFrames, c: FeatureConfig): Promise<Uint8Array> {
  return resizeRgb(colorize(w, c), c.imageSize, c.resizeKernel);
}

/** The model input of one window: Float32 HWC values in [0, 1], length imageSize² · 3. */
export async function renderFeatures(w: WindowFrames, c: FeatureConfig): Promise<Float32Array> {
  return toUnitFloat(await renderWindowImage(w, c));
}

/**
 * The model-input images of many windows, byte-identical to rendering each with renderWindowImage.
 * When the spectrogram already has imageSize rows (the default), the resize only reduces time, each
 * row on its own, so the windows are stacked vertically and resized in one sharp call (a test checks
 * the identity); otherwise each window is resized on its own.
 */
export async function renderWindowImages(ws: readonly WindowFrames[], c: FeatureConfig): Promise<Uint8Array[]> {
  if (ws.length === 0) return [];
  const imgs = ws.map((w) => colorize(w, c));
  const { width, height } = imgs[0]!;
  if (height !== c.imageSize || ws.length === 1 || imgs.some((im) => im.width !== width || im.height !== height))
    return Promise.all(imgs.map((im) => resizeRgb(im, c.imageSize, c.resizeKernel)));
  const one = width * height * 3;
  const stacked = new Uint8Array(one * imgs.length);
  imgs.forEach((im, k) => stacked.set(im.data, k * one));
  const out = await sharp(stacked, { raw: { width, height: height * imgs.length, channels: 3 } })
    .resize(c.imageSize, height * imgs.length, { fit: 'fill', kernel: c.resizeKernel })
    .raw()
    .toBuffer();
  const px = c.imageSize * c.imageSize * 3;
  if (out.length !== px * imgs.length) throw new Error(`batched resize produced ${out.length} bytes, expected ${px * imgs.length}`);
  return imgs.map((_, k) => new Uint8Array(out.buffer, out.byteOffset + k * px, px));
}

/**
 * Collects windows from any number of streams and renders whatever is queued in one batch
 * (renderWindowImages), so a busy server or a fast replay pays one sharp call per batch, while a
 * lone real-time stream still gets its window rendered at once.
 */
export class RenderQueue {
  private queue: { w: WindowFrames; resolve: (x: Uint8Array) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;

  constructor(
    readonly config: FeatureConfig,
    private readonly maxBatch = 256,
  ) {}

  /** The model-input image of `w`, rendered with the next batch. */
  image(w: WindowFrames): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.queue.push({ w, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** The model input of `w` as floats in [0, 1]. */
  async features(w: WindowFrames): Promise<Float32Array> {
    return toUnitFloat(await this.image(w));
  }

  private flush(): void {
    this.scheduled = false;
    while (this.queue.length) {
      const batch = this.queue.splice(0, this.maxBatch);
      renderWindowImages(
        batch.map((b) => b.w),
        this.config,
      ).then(
        (imgs) => batch.forEach((b, i) => b.resolve(imgs[i]!)),
        (e: unknown) => batch.forEach((b) => b.reject(e)),
      );
    }
  }
}
