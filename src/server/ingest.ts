/**
 * Remote audio ingest: one `IngestStream` per `/v1/ingest` connection. Binary PCM frames are decoded
 * and streamed through the engine every other source uses (the server's shared engine: one model,
 * batched inference, the same resampling rule, level gate and event layer as listen and replay).
 * Independent of WebSocket: the server wires frames in and messages out.
 */
import { Subject, type Subscription } from 'rxjs';
import { SoundeeError } from '../config.ts';
import { PCM_FORMATS, type PcmFormat, bytesPerSample, decodePcm } from '../audio/pcm.ts';
import type { Engine } from '../engine/engine.ts';
import type { EventEndReason } from '../events/tracker.ts';
import { Backlog, type RenderedWindow } from '../stream/operators.ts';
import { type ErrorCode, type EventInput, type PredictionMessage, RESAMPLED_RATES_HZ } from '../protocol/index.ts';

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

export interface IngestStreamOptions {
  /** The engine every ingest stream shares (one model, batched inference, the event settings). */
  engine: Engine;
  /** Windows in flight before reading from the client pauses (TCP back-pressure). Default 64. */
  maxBacklogWindows?: number;
  /** Each prediction as encoded for the wire (level-gated). */
  onPrediction: (m: PredictionMessage) => void;
  /** Each event as encoded for the wire (without its id: the server numbers it). */
  onEvent: (e: EventInput) => void;
  onRendered?: (r: RenderedWindow) => void;
  /** Called with true when the stream wants the client to stop sending for now, false when it may go on. */
  onBackpressure: (paused: boolean) => void;
  /** Called once when the pipeline finished (after end()) or failed; not after abort(). */
  onDone: (result: { windows: number; error?: unknown }) => void;
}

/** Defaults of ingest streams. */
export const DEFAULT_INGEST_STREAM = Object.freeze({ maxBacklogWindows: 64 });

/**
 * One `/v1/ingest` connection's stream: binary PCM frames in, through the engine (the resampling rule,
 * the feature path, batched inference, the level gate, the event layer), messages out.
 */
export class IngestStream {
  private readonly pcm$ = new Subject<Float32Array>();
  private readonly stop$ = new Subject<EventEndReason>();
  private readonly backlog: Backlog;
  private readonly sub: Subscription;
  private readonly maxBacklog: number;
  private paused = false;
  private finished = false;
  private aborted = false;
  private windows = 0;

  private constructor(
    readonly params: IngestParams,
    private readonly o: IngestStreamOptions,
  ) {
    this.maxBacklog = o.maxBacklogWindows ?? DEFAULT_INGEST_STREAM.maxBacklogWindows;
    this.backlog = new Backlog(this.maxBacklog);
    this.sub = o.engine
      .stream(this.pcm$, params.streamId, { sampleRateHz: params.sampleRateHz, stop: this.stop$, backlog: this.backlog })
      .subscribe({
        next: (out) => {
          if (out.type === 'window') o.onRendered?.(out.rendered);
          else if (out.type === 'prediction') {
            this.windows++;
            o.onPrediction(out.message);
          } else if (out.type === 'event') o.onEvent(out.message);
        },
        error: (error: unknown) => this.finish(error),
        complete: () => this.finish(),
      });
  }

  /** Opens a stream (resolves at once: the engine creates the stream's resampler when needed, holding early audio meanwhile). */
  static async open(params: IngestParams, o: IngestStreamOptions): Promise<IngestStream> {
    return new IngestStream(params, o);
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
    this.pcm$.next(decodePcm(frame, this.params.format));
    if (!this.paused && this.backlog.size >= this.maxBacklog) {
      this.paused = true;
      this.o.onBackpressure(true);
      void this.backlog.ready().then(() => {
        this.paused = false;
        if (!this.finished) this.o.onBackpressure(false);
      });
    }
  }

  /** No more audio: the windows in flight are classified (the resampler flushed, the pad rule applied), open events end, then onDone is called. */
  end(): void {
    this.pcm$.complete();
  }

  /**
   * Stops at once (the client went away, the server shuts down): windows in flight are dropped, every
   * open event gets its `end` with `reason` (through onEvent, before this returns); onDone is not called.
   */
  abort(reason: EventEndReason = 'stream-ended'): void {
    if (this.finished) return;
    this.aborted = true;
    this.stop$.next(reason);
    this.sub.unsubscribe();
    this.finished = true;
  }

  private finish(error?: unknown): void {
    if (this.finished) return;
    this.finished = true;
    if (this.aborted) return;
    this.o.onDone(error === undefined ? { windows: this.windows } : { windows: this.windows, error });
  }
}
