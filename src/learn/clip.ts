/**
 * Clips sent over the network to be learned from (the dashboard's recordings and uploads): a WAV file
 * in memory, decoded and cut to the part the user kept, at the file's own rate — the resampling to
 * the model's rate is the feature path's (`resample`, the rule every route takes), never the sender's.
 * And the preview of such a clip: its spectrogram and windows as the model sees them, rendered by the
 * one feature path (framing, dB spectrogram, colormap), for the teach panel to show.
 */
import { Buffer } from 'node:buffer';
import { resample } from '../audio/resample.ts';
import { decodeWav } from '../audio/wav.ts';
import { type FeatureConfig, SoundeeError, framesPerHop } from '../config.ts';
import { frameSignal, padToWindow } from '../features/framer.ts';
import { colorize } from '../features/render.ts';
import type { ClipBody } from '../protocol/index.ts';
import { soundWindows } from './examples.ts';

/** Limits on clips taken over the network. Defaults in {@link DEFAULT_CLIP_LIMITS}. */
export interface ClipLimits {
  /** Shortest part kept, ms: shorter is not a recording of a sound. */
  minClipMs: number;
  /** Longest file, ms (one sound per clip; the room's negatives may be longer recordings, up to this). */
  maxClipMs: number;
}

export const DEFAULT_CLIP_LIMITS: Readonly<ClipLimits> = Object.freeze({ minClipMs: 200, maxClipMs: 30_000 });

/** A clip decoded and cut: mono samples at the file's own rate. */
export interface TrimmedClip {
  samples: Float32Array;
  sampleRateHz: number;
  /** Length of the whole file. */
  durationMs: number;
  /** The part kept, ms from the start of the file. */
  startMs: number;
  endMs: number;
}

const inputError = (message: string): never => {
  throw new SoundeeError('ERR_LEARN_INPUT', message);
};

/**
 * Decodes a WAV file held in memory and keeps [startMs, endMs) of it (clamped to the file).
 * @param name the clip's name in errors.
 * @throws SoundeeError ERR_LEARN_INPUT: not a WAV file Soundee reads, longer than `maxClipMs`, a part shorter than `minClipMs`.
 */
export function trimWav(
  bytes: Uint8Array,
  name: string,
  { startMs = 0, endMs }: { startMs?: number; endMs?: number } = {},
  limits: ClipLimits = DEFAULT_CLIP_LIMITS,
): TrimmedClip {
  let wav: ReturnType<typeof decodeWav>;
  try {
    wav = decodeWav(bytes, name);
  } catch (e) {
    return inputError(`${(e as Error).message}; send a WAV file (8/16/24/32-bit integer or 32/64-bit float PCM)`);
  }
  const rate = wav.sampleRateHz;
  const durationMs = (wav.samples.length / rate) * 1000;
  if (durationMs > limits.maxClipMs)
    inputError(`${name} is ${(durationMs / 1000).toFixed(1)} s long; clips may be at most ${limits.maxClipMs / 1000} s (trim it)`);
  const end = Math.min(endMs ?? durationMs, durationMs);
  if (!(startMs < end)) inputError(`${name}: the part to keep (${startMs}–${endMs ?? durationMs} ms) is empty`);
  const from = Math.round((startMs * rate) / 1000);
  const to = Math.round((end * rate) / 1000);
  const keptMs = ((to - from) / rate) * 1000;
  if (keptMs < limits.minClipMs)
    inputError(`${name} is ${Math.round(keptMs)} ms long; a clip must hold at least ${limits.minClipMs} ms of the sound`);
  return { samples: wav.samples.slice(from, to), sampleRateHz: rate, durationMs, startMs: (from / rate) * 1000, endMs: (to / rate) * 1000 };
}

/**
 * A clip as the model sees it: resampled by the feature config's rule, padded (the pad rule), framed;
 * its spectrogram (every STFT frame once: the first window's columns, then each later window's newest
 * hop, coloured per window exactly as the dashboard's live spectrogram) and its windows, with the
 * ones learning would use marked (`soundWindows`).
 */
export async function previewClip(clip: TrimmedClip, c: FeatureConfig): Promise<ClipBody> {
  const x = await resample(clip.samples, clip.sampleRateHz, c.sampleRateHz, c.resampler);
  const padded = padToWindow(x, c);
  const windows = frameSignal(padded, c);
  const hop = framesPerHop(c);
  const images = windows.map((w) => colorize(w, c));
  const widths = images.map((img, i) => (i === 0 ? img.width : Math.min(img.width, hop)));
  const width = widths.reduce((a, b) => a + b, 0);
  const height = images[0]?.height ?? c.bands;
  const out = new Uint8Array(width * height * 3);
  let col = 0;
  images.forEach((img, i) => {
    const n = widths[i]!;
    for (let y = 0; y < height; y++) {
      const src = (y * img.width + (img.width - n)) * 3;
      out.set(img.data.subarray(src, src + n * 3), (y * width + col) * 3);
    }
    col += n;
  });
  const sound = new Set(soundWindows(windows));
  return {
    sampleRateHz: clip.sampleRateHz,
    durationMs: clip.durationMs,
    startMs: clip.startMs,
    endMs: clip.endMs,
    padded: padded !== x,
    spectrogram: { width: Math.max(1, width), height, data: Buffer.from(out.buffer, out.byteOffset, out.byteLength).toString('base64') },
    framesPerSecond: c.sampleRateHz / c.stftHopSamples,
    windows: windows.map((w) => {
      const startMs = (w.startSample / c.sampleRateHz) * 1000;
      return {
        index: w.index,
        startMs,
        endMs: startMs + c.windowMillis,
        rmsDb: Number.isFinite(w.rmsDb) ? Math.round(w.rmsDb * 10) / 10 : null,
        sound: sound.has(w.index),
      };
    }),
  };
}
