/**
 * Example and negative clips for learning a class: files or folders of WAV files, read, padded,
 * framed and rendered through the one feature path exactly as `predict` and `dataset build` see a
 * clip, and the windows that carry the sound picked out (a recording made by hand starts and ends
 * with room noise that is not the sound).
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { type FeatureConfig, SoundeeError, windowSamples } from '../config.ts';
import { loadAudio } from '../audio/wav-reader.ts';
import { renderClip } from '../features/clip.ts';
import type { WindowFrames } from '../features/framer.ts';

/** A clip through the feature path. */
export interface ClipWindows {
  file: string;
  /** The clip's samples at the model's rate, padded to one window when shorter. */
  samples: Float32Array;
  windows: WindowFrames[];
  /** Model-input images of `windows`. */
  images: Uint8Array[];
  /** Length of the recording before padding. */
  durationMs: number;
  /** True when the clip was shorter than a window and padded (the pad rule). */
  padded: boolean;
}

/** Reads and renders one WAV file. @throws SoundeeError for a file that cannot be read or decoded. */
export async function loadClip(file: string, c: FeatureConfig): Promise<ClipWindows> {
  const raw = await loadAudio(file, c.sampleRateHz, c.resampler);
  if (raw.length === 0) throw new SoundeeError('ERR_LEARN_INPUT', `${file}: the file holds no audio`);
  const r = await renderClip(raw, c);
  return {
    file,
    samples: r.samples,
    windows: [...r.windows],
    images: [...r.images],
    durationMs: (raw.length / c.sampleRateHz) * 1000,
    padded: raw.length < windowSamples(c),
  };
}

/**
 * The WAV files named by `paths`: files as given, folders searched recursively (sorted).
 * @throws SoundeeError ERR_LEARN_INPUT for a path that does not exist or a folder without WAV files.
 */
export async function expandInputs(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<string[]> => {
    const found: string[] = [];
    for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) found.push(...(await walk(p)));
      else if (e.isFile() && extname(e.name).toLowerCase() === '.wav') found.push(p);
    }
    return found;
  };
  for (const p of paths) {
    const s = await stat(p).catch(() => undefined);
    if (!s) throw new SoundeeError('ERR_LEARN_INPUT', `${p}: no such file or folder`);
    if (s.isDirectory()) {
      const files = await walk(p);
      if (!files.length) throw new SoundeeError('ERR_LEARN_INPUT', `${p}: no .wav files in this folder`);
      out.push(...files);
    } else out.push(p);
  }
  return [...new Set(out.map((f) => resolve(f)))];
}

/** Which windows of a clip carry its sound. */
export interface SoundWindowOptions {
  silenceDb: number;
  rangeDb: number;
}

/** Defaults of {@link soundWindows}. */
export const DEFAULT_SOUND_WINDOWS: Readonly<SoundWindowOptions> = Object.freeze({
  /** Windows quieter than this (dBFS) hold no sound (the event layer's level gate). */
  silenceDb: -60,
  /** Windows more than this many dB under the clip's loudest window are its surroundings, not the sound. */
  rangeDb: 12,
});

/**
 * Indices of the windows of a clip that carry its sound: loud enough for the level gate and within
 * `rangeDb` of the loudest window. Empty for a silent clip.
 */
export function soundWindows(windows: readonly WindowFrames[], o: Partial<SoundWindowOptions> = {}): number[] {
  const { silenceDb, rangeDb } = { ...DEFAULT_SOUND_WINDOWS, ...o };
  const loudest = Math.max(...windows.map((w) => w.rmsDb));
  const floor = Math.max(silenceDb, loudest - rangeDb);
  return windows.flatMap((w, i) => (w.rmsDb >= floor ? [i] : []));
}

/** The samples of window `w` of a clip (a copy, one window long). */
export function windowAudio(clip: { samples: Float32Array }, w: WindowFrames, c: FeatureConfig): Float32Array {
  return clip.samples.slice(w.startSample, w.startSample + windowSamples(c));
}
