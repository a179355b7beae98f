/**
 * PCM sources as Observables of mono Float32 chunks: samples in memory, WAV files (read and decoded a
 * chunk at a time), raw PCM bytes.
 */
import { Observable, type SchedulerLike, type Subscription, asyncScheduler, defer, interval, map, take } from 'rxjs';
import { type PcmFormat, PcmDecoder } from '../audio/pcm.ts';
import { WavReader } from '../audio/wav-reader.ts';
import type { Resampler } from '../config.ts';
import { resampleTo } from './resample.ts';

/** 'realtime' emits each chunk when it would have been recorded; 'fast' as fast as the pipeline takes it. */
export type Pace = 'realtime' | 'fast';

/** Defaults of the sources. */
export const DEFAULT_SOURCE_OPTIONS = Object.freeze({
  /** Chunk length when paced in real time, ms. */
  realtimeChunkMs: 100,
  /** Chunk length when read as fast as possible, ms. */
  fastChunkMs: 1000,
});

/** Limits how far a fast source runs ahead of the pipeline (so an hour-long file is not framed into memory at once). */
export interface Gate {
  /** Resolves when the source may emit its next chunk. */
  ready(): Promise<void>;
}

export interface SampleSourceOptions {
  /** Chunk length. Default 100 ms in real time, 1000 ms fast. */
  chunkMs?: number;
  pace?: Pace;
  /** Scheduler for real-time pacing (tests use a virtual one). */
  scheduler?: SchedulerLike;
  /** Back-pressure for fast pacing. */
  gate?: Gate;
}

const chunkMsOf = (o: SampleSourceOptions) =>
  o.chunkMs ?? (o.pace === 'realtime' ? DEFAULT_SOURCE_OPTIONS.realtimeChunkMs : DEFAULT_SOURCE_OPTIONS.fastChunkMs);

/** Emits `samples` in chunks, paced as asked. */
export function fromSamples(samples: Float32Array, sampleRateHz: number, options: SampleSourceOptions = {}): Observable<Float32Array> {
  const { pace = 'fast', scheduler = asyncScheduler, gate } = options;
  const ms = chunkMsOf(options);
  const chunk = Math.max(1, Math.round((ms * sampleRateHz) / 1000));
  const n = Math.ceil(samples.length / chunk);
  const slice = (i: number) => samples.subarray(i * chunk, Math.min(samples.length, (i + 1) * chunk));
  if (pace === 'realtime') {
    // chunk i is complete (and so "arrives") at the end of its span
    return interval(ms, scheduler).pipe(take(n), map(slice));
  }
  return fromChunks(
    (function* () {
      for (let i = 0; i < n; i++) yield slice(i);
    })(),
    { pace, ...(gate ? { gate } : {}) },
  );
}

/**
 * Emits the chunks of an (async) iterable: as fast as `gate` allows, yielding to the event loop
 * between chunks (so rendering and inference run alongside), or in real time (`chunkMs` apart,
 * each when it would have been recorded). Errors of the iterable arrive as the Observable's error;
 * unsubscribing stops the iteration (its `return()` runs: a file reader closes its file).
 */
export function fromChunks(
  chunks: AsyncIterable<Float32Array> | Iterable<Float32Array>,
  { pace = 'fast', gate, chunkMs }: { pace?: Pace; gate?: Gate; chunkMs?: number } = {},
): Observable<Float32Array> {
  return new Observable<Float32Array>((sub) => {
    let stopped = false;
    let wake: NodeJS.Immediate | NodeJS.Timeout | undefined;
    const it =
      Symbol.asyncIterator in chunks
        ? (chunks as AsyncIterable<Float32Array>)[Symbol.asyncIterator]()
        : (chunks as Iterable<Float32Array>)[Symbol.iterator]();
    const wait = (ms: number) => new Promise<void>((r) => (wake = ms > 0 ? setTimeout(r, ms) : setImmediate(r)));
    const step = async () => {
      const t0 = performance.now();
      try {
        for (let k = 0; !stopped; k++) {
          if (gate) await gate.ready();
          if (stopped) return;
          const next = await it.next();
          if (next.done || stopped) break;
          if (pace === 'realtime' && chunkMs !== undefined) await wait(t0 + (k + 1) * chunkMs - performance.now());
          if (stopped) return;
          sub.next(next.value);
          if (pace === 'fast') await wait(0);
        }
        if (!stopped) sub.complete();
      } catch (e) {
        if (!stopped) sub.error(e);
      }
    };
    void step();
    return () => {
      stopped = true;
      if (wake) {
        clearTimeout(wake as NodeJS.Timeout);
        clearImmediate(wake as NodeJS.Immediate);
      }
      // the subscriber is gone: a failure while closing the source (a file) has nobody left to be told, and must not
      // become an unhandled rejection
      Promise.resolve(it.return?.()).catch(() => undefined);
    };
  });
}

/**
 * An open WAV file as a PCM source at the file's own rate (`reader.sampleRateHz`): read, decoded and
 * downmixed a chunk at a time as the pipeline takes them. Read errors arrive as the Observable's
 * error; the file is closed when the source completes, fails or is unsubscribed.
 */
export function fromWavReader(reader: WavReader, options: SampleSourceOptions = {}): Observable<Float32Array> {
  const ms = chunkMsOf(options);
  const frames = Math.max(1, Math.round((ms * reader.sampleRateHz) / 1000));
  return fromChunks(reader.chunks(frames), {
    pace: options.pace ?? 'fast',
    chunkMs: ms,
    ...(options.gate ? { gate: options.gate } : {}),
  });
}

export interface WavSourceOptions extends SampleSourceOptions {
  /** Rate the file is resampled to (the model's). */
  sampleRateHz: number;
  /** The resampling rule (the feature config's). Default 'sinc-medium'. */
  resampler?: Resampler;
}

/**
 * A WAV file as a PCM source at `sampleRateHz`: opened when subscribed, then read, decoded, downmixed
 * and resampled as a stream (memory stays flat whatever the length). Errors (missing file, not a WAV,
 * truncated) arrive as the Observable's error.
 */
export function fromWavFile(path: string, opts: WavSourceOptions): Observable<Float32Array> {
  return new Observable<Float32Array>((sub) => {
    let closed = false;
    let inner: Subscription | undefined;
    WavReader.open(path).then(
      (reader) => {
        if (closed) return void reader.close();
        inner = fromWavReader(reader, opts)
          .pipe(resampleTo(reader.sampleRateHz, opts.sampleRateHz, opts.resampler))
          .subscribe(sub);
      },
      (e: unknown) => sub.error(e),
    );
    return () => {
      closed = true;
      inner?.unsubscribe();
    };
  });
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
