/**
 * Feature path per window: the STFT frames one new window needs (each frame computed once), colour,
 * resize, and the whole path for a lone window and for a batch of windows (as the render queue
 * batches them under load or in a fast replay).
 */
import { framesPerHop, hopSamples, resolveFeatureConfig } from '../src/config.ts';
import { FrameAnalyzer } from '../src/dsp/spectrogram.ts';
import { Framer, frameSignal } from '../src/features/framer.ts';
import { colorize, renderWindowImages, resizeRgb } from '../src/features/render.ts';
import { toModelInput } from '../src/model/classifier.ts';
import { type Stat, stat, timeIt } from './lib.ts';

export interface FeatureFigures {
  /** STFT + bands + dB of the frames one new window needs (one hop's worth), µs. */
  stftUs: Stat;
  /** STFT frames per window hop (each computed once, shared by the overlapping windows). */
  framesPerHop: number;
  /** dB → colormap image, µs. */
  colorUs: Stat;
  /** sharp resize to 32×32 of one window alone, µs. */
  resizeUs: Stat;
  /** sharp resize per window when `batch` windows go in one call (the render queue under load), µs. */
  resizeBatchedUs: Stat;
  /** Streaming total for a lone window: push one hop of samples, colour, resize, to floats, µs. */
  totalUs: Stat;
  /** Streaming total per window when `batch` windows are rendered together, µs. */
  totalBatchedUs: Stat;
  /**
   * CPU time (all threads of this process) per window of the two totals, µs: less sensitive than wall
   * time to other processes on a busy machine.
   */
  totalCpuUs: Stat;
  totalBatchedCpuUs: Stat;
  batch: number;
}

const us = (s: Stat): Stat => ({ median: s.median * 1000, min: s.min * 1000, max: s.max * 1000, n: s.n });

/** Deterministic noise (the feature path's cost does not depend on the content). */
function testSignal(seconds: number): Float32Array {
  let seed = 1;
  return Float32Array.from({ length: 16000 * seconds }, () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.5);
}

/** Times the feature path; `quick` uses fewer repeats. */
export async function benchFeatures({ quick = false, batch = 64 } = {}): Promise<FeatureFigures> {
  const c = resolveFeatureConfig();
  const repeats = quick ? 5 : 11;
  const x = testSignal(30);
  const hop = hopSamples(c);
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
    { repeats, warmup: 20, inner: 50 },
  );
  const [w] = frameSignal(x.subarray(0, 16000), c);
  const color = await timeIt(() => colorize(w!, c), { repeats, warmup: 20, inner: 50 });
  const img = colorize(w!, c);
  const resize = await timeIt(() => resizeRgb(img, c.imageSize, c.resizeKernel), { repeats, warmup: 10, inner: 20 });
  const many = frameSignal(x, c).slice(0, batch);
  const resizeBatched = await timeIt(() => renderWindowImages(many, c), { repeats, warmup: 2, inner: 2 });

  // streaming: the signal is pushed round and round (the content does not matter for the cost)
  const framer = new Framer(c);
  let pos = 0;
  const pushHops = (hops: number) => {
    const ws = [];
    for (let h = 0; h < hops; h++) {
      if (pos + hop > x.length) pos = 0;
      ws.push(...framer.push(x.subarray(pos, pos + hop)));
      pos += hop;
    }
    return ws;
  };
  pushHops(Math.ceil(c.windowMillis / c.hopMillis));
  const lone = async () => {
    for (const win of pushHops(1)) for (const im of await renderWindowImages([win], c)) toModelInput(im);
  };
  const together = async () => {
    for (const im of await renderWindowImages(pushHops(batch), c)) toModelInput(im);
  };
  const total = await timeIt(lone, { repeats, warmup: 5, inner: 20 });
  const totalBatched = await timeIt(together, { repeats, warmup: 1, inner: 2 });
  const cpuPerWindow = async (fn: () => Promise<void>, calls: number, windows: number) => {
    const samples: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const c0 = process.cpuUsage();
      for (let i = 0; i < calls; i++) await fn();
      const d = process.cpuUsage(c0);
      samples.push((d.user + d.system) / (calls * windows));
    }
    return stat(samples);
  };
  const totalCpu = await cpuPerWindow(lone, 20, 1);
  const totalBatchedCpu = await cpuPerWindow(together, 2, batch);
  const perWindow = (s: Stat): Stat => us({ median: s.median / batch, min: s.min / batch, max: s.max / batch, n: s.n });
  return {
    stftUs: us(stft),
    framesPerHop: fph,
    colorUs: us(color),
    resizeUs: us(resize),
    resizeBatchedUs: perWindow(resizeBatched),
    totalUs: us(total),
    totalBatchedUs: perWindow(totalBatched),
    totalCpuUs: totalCpu,
    totalBatchedCpuUs: totalBatchedCpu,
    batch,
  };
}
