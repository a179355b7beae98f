/**
 * PCM sources as Observables of mono Float32 chunks at the model's rate.
 */
import { Observable, type SchedulerLike, asyncScheduler, defer, interval, map, switchMap, take } from 'rxjs';
import { type PcmFormat, PcmDecoder } from '../audio/pcm.ts';
import { loadAudio } from '../audio/wav.ts';

/** 'realtime' emits each chunk when it would have been recorded; 'fast' as fast as the pipeline takes it. */
export type Pace = 'realtime' | 'fast';

/** Limits how far a fast source runs ahead of the pipeline (so an hour-long file is not framed into memory at once). */
export interface Gate {
  /** Resolves when the source may emit its next chunk. */
  ready(): Promise<void>;
}

export interface SampleSourceOptions {
  /** Chunk length. Default 100 ms in real time, 1000 ms fast. */
  chunkMillis?: number;
  pace?: Pace;
  /** Scheduler for real-time pacing (tests use a virtual one). */
  scheduler?: SchedulerLike;
  /** Back-pressure for fast pacing. */
  gate?: Gate;
}

/** Emits `samples` in chunks, paced as asked. */
export function fromSamples(
  samples: Float32Array,
  sampleRateHz: number,
  { chunkMillis, pace = 'fast', scheduler = asyncScheduler, gate }: SampleSourceOptions = {},
): Observable<Float32Array> {
  const ms = chunkMillis ?? (pace === 'realtime' ? 100 : 1000);
  const chunk = Math.max(1, Math.round((ms * sampleRateHz) / 1000));
  const n = Math.ceil(samples.length / chunk);
  const slice = (i: number) => samples.subarray(i * chunk, Math.min(samples.length, (i + 1) * chunk));
  if (pace === 'realtime') {
    // chunk i is complete (and so "arrives") at the end of its span
    return interval(ms, scheduler).pipe(take(n), map(slice));
  }
  return new Observable<Float32Array>((sub) => {
    let i = 0;
    let stopped = false;
    let immediate: NodeJS.Immediate | undefined;
    const step = async () => {
      try {
        while (!stopped && i < n) {
          if (gate) await gate.ready();
          if (stopped) return;
          sub.next(slice(i++));
          // yield to the event loop so rendering and inference run alongside
          await new Promise<void>((r) => (immediate = setImmediate(r)));
        }
        if (!stopped) sub.complete();
      } catch (e) {
        sub.error(e);
      }
    };
    void step();
    return () => {
      stopped = true;
      if (immediate) clearImmediate(immediate);
    };
  });
}

export interface WavSourceOptions extends SampleSourceOptions {
  /** Rate the file is resampled to (the model's). */
  sampleRateHz: number;
}

/**
 * A WAV file as a PCM source (decoded, downmixed and resampled to `sampleRateHz` when subscribed).
 * Errors (missing file, not a WAV, truncated) arrive as the Observable's error.
 */
export function fromWavFile(path: string, opts: WavSourceOptions): Observable<Float32Array> {
  return defer(() => loadAudio(path, opts.sampleRateHz)).pipe(switchMap((samples) => fromSamples(samples, opts.sampleRateHz, opts)));
}

/**
 * Raw PCM bytes (a child process's stdout, a socket) as Float32 chunks. Samples split across chunks
 * are carried over. The source is the caller's; unsubscribing stops listening but does not destroy it.
 */
export function fromPcmBytes(bytes$: Observable<Uint8Array>, format: PcmFormat): Observable<Float32Array> {
  return defer(() => {
    const decoder = new PcmDecoder(format);
    return bytes$.pipe(map((b) => decoder.push(b)));
  });
}
