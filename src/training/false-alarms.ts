/**
 * False alarms per hour: sound events raised on audio that holds none of the model's classes (music,
 * game effects, a room's everyday noise), counted as event starts of the real event layer — the same
 * `EventTracker`, level gate and settings that `replay`, `listen` and `serve` use.
 *
 * Two ways in: recordings on disk, replayed through the engine exactly as `soundee replay` replays
 * a file (file → resampling → windows → model → level gate → events); or windows already classified (cross-validation's held-out
 * predictions of a dataset's background clips), replayed through the event layer in time order.
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { lastValueFrom, tap } from 'rxjs';
import { SoundeeError } from '../config.ts';
import { WavReader } from '../audio/wav-reader.ts';
import { Engine } from '../engine/engine.ts';
import { type EventOptions, EventTracker, type ScoredWindow } from '../events/tracker.ts';
import type { ImageClassifier } from '../model/classifier.ts';
import { Backlog } from '../stream/operators.ts';
import { fromWavReader } from '../stream/sources.ts';

/** Event starts over some hours of non-target audio. */
export interface FalseAlarmReport {
  /** Audio listened to, hours. */
  hours: number;
  /** Streams (files or clips) it came in. */
  streams: number;
  /** Event starts, all classes. */
  starts: number;
  /** starts / hours. */
  perHour: number;
  /** Event starts per class (every tracked class listed, 0 included). */
  byClass: Record<string, number>;
  /** Per stream, the ones with events (name, seconds, starts by class). */
  streamsWithEvents: { stream: string; seconds: number; byClass: Record<string, number> }[];
}

function summarise(
  classes: readonly string[],
  background: readonly string[],
  perStream: { stream: string; seconds: number; byClass: Record<string, number> }[],
): FalseAlarmReport {
  const byClass = Object.fromEntries(classes.filter((c) => !background.includes(c)).map((c) => [c, 0]));
  let seconds = 0;
  for (const s of perStream) {
    seconds += s.seconds;
    for (const [c, n] of Object.entries(s.byClass)) byClass[c] = (byClass[c] ?? 0) + n;
  }
  const starts = Object.values(byClass).reduce((a, b) => a + b, 0);
  const hours = seconds / 3600;
  return {
    hours,
    streams: perStream.length,
    starts,
    perHour: hours > 0 ? starts / hours : 0,
    byClass,
    streamsWithEvents: perStream.filter((s) => Object.keys(s.byClass).length),
  };
}

/**
 * Counts event starts on windows already classified. Each stream's windows must be in time order.
 * @param streams stream name → its windows (the event layer reads `scores`, `startMs`, `endMs`, `rmsDb`).
 */
export function countEventStarts(
  streams: ReadonlyMap<string, readonly ScoredWindow[]>,
  classes: readonly string[],
  options: EventOptions,
): FalseAlarmReport {
  const perStream: FalseAlarmReport['streamsWithEvents'] = [];
  for (const [stream, windows] of streams) {
    const tracker = new EventTracker(stream, classes, options);
    const byClass: Record<string, number> = {};
    for (const w of windows) for (const e of tracker.push(w)) if (e.phase === 'start') byClass[e.label] = (byClass[e.label] ?? 0) + 1;
    tracker.finish();
    const first = windows[0];
    const last = windows.at(-1);
    perStream.push({ stream, seconds: first && last ? (last.endMs - first.startMs) / 1000 : 0, byClass });
  }
  return summarise(classes, options.backgroundClasses ?? [], perStream);
}

/** The WAV files under a folder (recursively, sorted), or the files given. */
export async function listWavFiles(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (p: string): Promise<void> => {
    let st: Awaited<ReturnType<typeof stat>>;
    try {
      st = await stat(p);
    } catch {
      throw new SoundeeError('ERR_DATASET', `${p}: no such file or folder`);
    }
    if (st.isDirectory()) {
      const entries = (await readdir(p)).sort();
      for (const e of entries) await walk(join(p, e));
    } else if (extname(p).toLowerCase() === '.wav') out.push(p);
  };
  for (const p of paths) await walk(p);
  if (!out.length) throw new SoundeeError('ERR_DATASET', `no .wav files in ${paths.join(', ')}`);
  return out;
}

/**
 * Replays recordings through the engine exactly as `soundee replay` does (the file streamed at its
 * own rate and resampled by the feature config's rule, the level gate, the event layer with
 * `options`) and counts the event starts. Every start on non-target audio is a false alarm.
 * @param options the event settings (unset ones: the model's background classes and per-class
 *   thresholds, then the event layer's defaults), the level gate's `silenceDb` included.
 */
export async function falseAlarmsOnFiles(
  classifier: ImageClassifier,
  files: readonly string[],
  options: EventOptions,
  onProgress?: (done: number, total: number, file: string) => void,
): Promise<FalseAlarmReport> {
  const engine = new Engine(classifier, { events: options, ownsModel: false });
  const perStream: FalseAlarmReport['streamsWithEvents'] = [];
  try {
    for (const [k, file] of files.entries()) {
      const byClass: Record<string, number> = {};
      let endMs = 0;
      const reader = await WavReader.open(file);
      try {
        const backlog = new Backlog();
        await lastValueFrom(
          engine.stream(fromWavReader(reader, { pace: 'fast', gate: backlog }), file, { sampleRateHz: reader.sampleRateHz, backlog }).pipe(
            tap((o) => {
              if (o.type === 'event' && o.event.phase === 'start') byClass[o.event.label] = (byClass[o.event.label] ?? 0) + 1;
              if (o.type === 'ended') endMs = o.lastEndMs;
            }),
          ),
          { defaultValue: undefined },
        );
      } finally {
        await reader.close();
      }
      perStream.push({ stream: file, seconds: endMs / 1000, byClass });
      onProgress?.(k + 1, files.length, file);
    }
  } finally {
    engine.dispose();
  }
  return summarise(classifier.classes, engine.eventOptions.backgroundClasses ?? [], perStream);
}
