/** Feature path per window: STFT frames of one hop (each frame computed once), colour, resize, total. */
import { framesPerHop, resolveFeatureConfig } from '../src/config.ts';
import { FrameAnalyzer } from '../src/dsp/spectrogram.ts';
import { Framer, frameSignal } from '../src/features/framer.ts';
import { colorize, renderFeatures, resizeRgb } from '../src/features/render.ts';
import { type Stat, timeIt } from './lib.ts';

export interface FeatureFigures {
  /** STFT + bands + dB of the frames one new window needs (one hop's worth), µs. */
  stftUs: Stat;
  /** dB → colormap image, µs. */
  colorUs: Stat;
  /** sharp resize to 32×32, µs (one at a time). */
  resizeUs: Stat;
  /** Streaming total per window (push one hop of samples, render the window), µs. */
  totalUs: Stat;
}

export async function benchFeatures(): Promise<FeatureFigures> {
  const c = resolveFeatureConfig();
  let seed = 1;
  const x = Float32Array.from({ length: 16000 * 20 }, () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.5);
  const a = new FrameAnalyzer(c);
  const out = new Float32Array(c.bands);
  const fph = framesPerHop(c);
  let off = 0;
  const stft = await timeIt(
    () => {
      for (let f = 0; f < fph; f++) {
        a.analyze(x, off, out, 0);
        off = (off + c.stftHopSamples) % (x.length - c.fftSize);
      }
    },
    { repeats: 9, warmup: 20, inner: 50 },
  );
  const [w] = frameSignal(x.subarray(0, 16000), c);
  const color = await timeIt(() => colorize(w!, c), { repeats: 9, warmup: 20, inner: 50 });
  const img = colorize(w!, c);
  const resize = await timeIt(() => resizeRgb(img, c.imageSize, c.resizeKernel), { repeats: 9, warmup: 20, inner: 50 });
  const framer = new Framer(c);
  framer.push(x.subarray(0, 16000 - 4000));
  let pos = 16000 - 4000;
  const total = await timeIt(
    async () => {
      if (pos + 4000 > x.length) return;
      const ws = framer.push(x.subarray(pos, pos + 4000));
      pos += 4000;
      for (const win of ws) await renderFeatures(win, c);
    },
    { repeats: 9, warmup: 4, inner: 20 },
  );
  const us = (s: { median: number; min: number; max: number; n: number }) => ({ median: s.median * 1000, min: s.min * 1000, max: s.max * 1000, n: s.n });
  return { stftUs: us(stft), colorUs: us(color), resizeUs: us(resize), totalUs: us(total) };
}
