/**
 * Remote audio ingest: one `IngestStream` per `/v1/ingest` connection. Binary PCM frames are decoded,
 * resampled to the model's rate when needed, and pushed through the same `classifyStream` pipeline
 * every other source uses, with the server's shared `BatchQueue` (so many streams share one model and
 * batched inference). Independent of WebSocket: the server wires frames in and messages out.
 */
import { type OperatorFunction, Subject, type Subscription, identity, ignoreElements, tap } from 'rxjs';
import { SoundeeError } from '../config.ts';
import { PCM_FORMATS, type PcmFormat, bytesPerSample, decodePcm } from '../audio/pcm.ts';
import { StreamResampler } from '../audio/resample.ts';
import type { BatchQueue } from '../model/classifier.ts';
import { Backlog, type Prediction, type RenderedWindow, classifyStream } from '../stream/operators.ts';
import { type ErrorCode, type EventInput, RESAMPLED_RATES_HZ } from '../protocol/index.ts';

export { RESAMPLED_RATES_HZ } from '../protocol/index.ts';

/** A stream id as given in the ingest URL: 1–128 printable characters. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what a stream id may not hold
const STREAM_ID = /^[^\u0000-\u001f\u007f]{1,128}$/;

export interface IngestParams {
  streamId: string;
  sampleRateHz: number;
  format: PcmFormat;
}

/** A refusal of ingest parameters, with its protocol error code. */
export interface ParamError {
  code: ErrorCode;
  message: string;
}

/** The rates a server with this model rate accepts, ascending. */
export function acceptedRates(modelRateHz: number): number[] {
  return [...new Set<number>([modelRateHz, ...RESAMPLED_RATES_HZ])].sort((a, b) => a - b);
}

/** Reads and checks `streamId`, `sampleRateHz` and `format` from an ingest URL. */
export function parseIngestParams(url: URL, modelRateHz: number): IngestParams | ParamError {
  const streamId = url.searchParams.get('streamId');
  if (streamId === null || !STREAM_ID.test(streamId))
    return { code: 'ERR_BAD_PARAMS', message: 'streamId is required: 1–128 printable characters' };
  const format = url.searchParams.get('format') ?? '';
  if (!(PCM_FORMATS as readonly string[]).includes(format))
    return { code: 'ERR_UNKNOWN_FORMAT', message: `format must be one of ${PCM_FORMATS.join(', ')}, got ${JSON.stringify(format)}` };
  const rateText = url.searchParams.get('sampleRateHz') ?? '';
  const rate = Number(rateText);
  if (!/^\d+$/.test(rateText))
    return { code: 'ERR_BAD_PARAMS', message: `sampleRateHz must be an integer, got ${JSON.stringify(rateText)}` };
  const rates = acceptedRates(modelRateHz);
  if (!rates.includes(rate))
    return { code: 'ERR_UNSUPPORTED_RATE', message: `sampleRateHz ${rate} is not supported; send one of ${rates.join(', ')} Hz` };
  return { streamId, sampleRateHz: rate, format: format as PcmFormat };
}

/** Turns a stream's predictions into events (the event layer plugs in here; see ServerOptions.events). */
export type EventOperatorFactory = (streamId: string) => OperatorFunction<Prediction, EventInput>;

export interface IngestStreamOptions {
  queue: BatchQueue;
  /** Windows in flight before reading from the client pauses (TCP back-pressure). Default 64. */
  maxBacklogWindows?: number;
  events?: EventOperatorFactory;
  /** Applied to the predictions before they are published and reach `events`. */
  postprocess?: (streamId: string) => OperatorFunction<Prediction, Prediction>;
  onPrediction: (p: Prediction) => void;
  onEvent: (e: EventInput) => void;
  onRendered?: (r: RenderedWindow) => void;
  /** Called with true when the stream wants the client to stop sending for now, false when it may go on. */
  onBackpressure: (paused: boolean) => void;
  /** Called once when the pipeline finished (after end()) or failed. */
  onDone: (result: { windows: number; error?: unknown }) => void;
}

export class IngestStream {
  private readonly pcm$ = new Subject<Float32Array>();
  private readonly backlog: Backlog;
  private readonly sub: Subscription;
  private paused = false;
  private finished = false;
  private windows = 0;

  private constructor(
    readonly params: IngestParams,
    private readonly resampler: StreamResampler | undefined,
    private readonly o: IngestStreamOptions,
  ) {
    this.backlog = new Backlog(o.maxBacklogWindows ?? 64);
    const { streamId } = params;
    this.sub = classifyStream(this.pcm$, {
      streamId,
      queue: o.queue,
      backlog: this.backlog,
      ...(o.onRendered ? { onRendered: o.onRendered } : {}),
    })
      .pipe(
        o.postprocess ? o.postprocess(streamId) : identity,
        tap((p) => {
          this.windows++;
          o.onPrediction(p);
        }),
        o.events ? o.events(streamId) : ignoreElements(),
      )
      .subscribe({
        next: (e) => o.onEvent(e),
        error: (error: unknown) => this.finish(error),
        complete: () => this.finish(),
      });
  }

  /** Opens a stream (creating its resampler when the client's rate is not the model's). */
  static async open(params: IngestParams, o: IngestStreamOptions): Promise<IngestStream> {
    const modelRate = o.queue.classifier.features.sampleRateHz;
    const resampler = params.sampleRateHz === modelRate ? undefined : await StreamResampler.create(params.sampleRateHz, modelRate);
    return new IngestStream(params, resampler, o);
  }

  /** Windows classified so far. */
  get windowCount(): number {
    return this.windows;
  }

  /**
   * Feeds one binary frame. A frame must hold whole samples: WebSocket messages are the unit of the
   * protocol, so a split sample means the sender has the wrong format or a bug, and is refused
   * rather than carried over into misaligned audio.
   * @throws SoundeeError ERR_PCM_ALIGNMENT.
   */
  write(frame: Uint8Array): void {
    if (this.finished) return;
    const bps = bytesPerSample(this.params.format);
    if (frame.length % bps !== 0)
      throw new SoundeeError(
        'ERR_PCM_ALIGNMENT',
        `a binary frame of ${frame.length} bytes is not a whole number of ${this.params.format} samples (${bps} bytes each); every frame must hold whole samples`,
      );
    if (frame.length === 0) return;
    const samples = decodePcm(frame, this.params.format);
    this.pcm$.next(this.resampler ? this.resampler.push(samples) : samples);
    if (!this.paused && this.backlog.size >= (this.o.maxBacklogWindows ?? 64)) {
      this.paused = true;
      this.o.onBackpressure(true);
      void this.backlog.ready().then(() => {
        this.paused = false;
        if (!this.finished) this.o.onBackpressure(false);
      });
    }
  }

  /** No more audio: the windows in flight are classified, then onDone is called. */
  end(): void {
    this.pcm$.complete();
  }

  /** Stops at once (the client went away); onDone is not called. */
  abort(): void {
    this.finished = true;
    this.sub.unsubscribe();
    this.resampler?.destroy();
  }

  private finish(error?: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.resampler?.destroy();
    this.o.onDone(error === undefined ? { windows: this.windows } : { windows: this.windows, error });
  }
}
