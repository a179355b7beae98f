/**
 * `soundee/client/ingest`: streaming audio into a Soundee server (`/v1/ingest`): a connection class
 * with back-pressure, and helpers that stream a WAV file, samples, or a PCM byte stream, in real time
 * or as fast as the server takes them. Its own entry, because it needs the audio code (WAV reading,
 * resampling) that the subscriber client does not.
 */
import { Buffer } from 'node:buffer';
import { basename } from 'node:path';
import type WebSocket from 'ws';
import { type PcmFormat, SampleAligner, bytesPerSample, encodePcm } from '../audio/pcm.ts';
import { resample } from '../audio/resample.ts';
import { readWav } from '../audio/wav.ts';
import {
  type ErrorMessage,
  type EventMessage,
  type HelloMessage,
  INGEST_PATH,
  type PredictionMessage,
  RESAMPLED_RATES_HZ,
  type ServerMessage,
  type StatusMessage,
} from '../protocol/index.ts';
import { TokenBucket } from '../util/token-bucket.ts';
import { SoundeeClientError, type SocketOptions, endpointUrl, openSocket } from './connection.ts';

export interface IngestHandlers {
  onPrediction?: (p: PredictionMessage) => void;
  onEvent?: (e: EventMessage) => void;
  onStatus?: (s: StatusMessage) => void;
  /** Every message, including the above. */
  onMessage?: (m: ServerMessage) => void;
}

export interface IngestConnectOptions extends SocketOptions, IngestHandlers {
  /** Server URL: ws://host:port (or http://…). */
  url: string;
  /** Name of the stream (1–128 printable characters, unique on the server while open). */
  streamId: string;
  /** Rate of the PCM you send: the model's, or one the server resamples (hello.ingest.sampleRatesHz). */
  sampleRateHz: number;
  format: PcmFormat;
  /** Bytes the socket may hold unsent before write() waits. Default 1 MiB. */
  highWaterBytes?: number;
}

/** How a stream ended. */
export interface IngestSummary {
  streamId: string;
  /** Windows the server classified. */
  windows: number;
  predictions: number;
  events: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One open ingest stream. */
export class IngestConnection {
  private failure: SoundeeClientError | undefined;
  private closed: Promise<{ code: number; reason: string }>;
  /** Whole samples only: a sample split across write() calls is carried over. */
  private readonly aligner: SampleAligner;
  private windows = 0;
  private predictions = 0;
  private events = 0;
  private readonly frameBytes: number;
  /** Keeps this client under the server's frame rate (hello.ingest.maxFramesPerSecond). */
  private readonly frames: TokenBucket;

  private constructor(
    private readonly ws: WebSocket,
    readonly hello: HelloMessage,
    private readonly o: IngestConnectOptions,
    early: ServerMessage[],
    onMessage: (handler: (m: ServerMessage) => void) => void,
    closed: Promise<{ code: number; reason: string }>,
  ) {
    this.aligner = new SampleAligner(o.format);
    const bps = bytesPerSample(o.format);
    this.frameBytes = Math.max(bps, hello.ingest.maxFrameBytes - (hello.ingest.maxFrameBytes % bps));
    const rate = hello.ingest.maxFramesPerSecond;
    this.frames = new TokenBucket(0.9 * rate, Math.max(1, rate));
    for (const m of early) this.onMessage(m);
    onMessage((m) => this.onMessage(m));
    this.closed = closed.then((c) => {
      if (c.code !== 1000 && !this.failure)
        this.failure = new SoundeeClientError('ERR_CLOSED', `the server closed the stream (${c.code}${c.reason ? ` ${c.reason}` : ''})`, {
          closeCode: c.code,
        });
      else if (this.failure) this.failure.details.closeCode ??= c.code;
      return c;
    });
  }

  /**
   * Opens a stream; resolves after the server's hello.
   * @throws SoundeeClientError with the server's code (ERR_UNSUPPORTED_RATE, ERR_STREAM_EXISTS, ERR_UNAUTHORIZED, …).
   */
  static async open(o: IngestConnectOptions): Promise<IngestConnection> {
    const url = endpointUrl(o.url, INGEST_PATH, { streamId: o.streamId, sampleRateHz: String(o.sampleRateHz), format: o.format });
    // messages can arrive together with the handshake: buffer them until the connection object exists
    const buffered: ServerMessage[] = [];
    let handler: ((m: ServerMessage) => void) | undefined;
    let closed!: Promise<{ code: number; reason: string }>;
    const ws = await openSocket(url, o, (socket) => {
      closed = new Promise((r) => socket.once('close', (code, reason) => r({ code, reason: reason.toString() })));
      socket.on('message', (d, isBinary) => {
        if (isBinary) return;
        const m = JSON.parse(d.toString()) as ServerMessage;
        if (handler) handler(m);
        else buffered.push(m);
      });
    });
    const first = await new Promise<{ m: ServerMessage } | { closedWith: number }>((resolve) => {
      if (buffered.length) return resolve({ m: buffered[0]! });
      ws.once('message', () => resolve({ m: buffered[0]! }));
      ws.once('close', (code) => resolve({ closedWith: code }));
    });
    if ('m' in first && first.m.type === 'hello')
      return new IngestConnection(ws, first.m, o, buffered.slice(1), (h) => (handler = h), closed);
    const err = 'm' in first && first.m.type === 'error' ? (first.m as ErrorMessage) : undefined;
    const closeCode = (await closed).code;
    throw new SoundeeClientError(err?.code ?? 'ERR_CLOSED', err?.message ?? `the server closed the stream (${closeCode})`, { closeCode });
  }

  private onMessage(m: ServerMessage): void {
    this.o.onMessage?.(m);
    switch (m.type) {
      case 'prediction':
        this.predictions++;
        this.o.onPrediction?.(m);
        break;
      case 'event':
        this.events++;
        this.o.onEvent?.(m);
        break;
      case 'status':
        if (m.kind === 'stream' && typeof m.windows === 'number') this.windows = m.windows;
        this.o.onStatus?.(m);
        break;
      case 'error': {
        const e = m as ErrorMessage;
        if (e.fatal) this.failure = new SoundeeClientError(e.code, e.message, e.streamId !== undefined ? { streamId: e.streamId } : {});
        break;
      }
    }
  }

  /** Throws the server's error if the stream has failed. */
  private check(): void {
    if (this.failure) throw this.failure;
    if (this.ws.readyState !== 1) throw new SoundeeClientError('ERR_CLOSED', 'the stream is closed');
  }

  /**
   * Sends PCM bytes in the stream's format, in frames of whole samples no larger than the server
   * takes (a sample split across calls is carried over). Waits while the socket is backed up.
   */
  async write(pcm: Uint8Array): Promise<void> {
    this.check();
    const bytes = this.aligner.push(pcm);
    const whole = bytes.length;
    const high = this.o.highWaterBytes ?? 1 << 20;
    for (let off = 0; off < whole; off += this.frameBytes) {
      while (this.ws.bufferedAmount > high || !this.frames.take()) {
        await sleep(5);
        this.check();
      }
      this.ws.send(bytes.subarray(off, Math.min(whole, off + this.frameBytes)));
    }
  }

  /** Sends samples in [-1, 1], encoded in the stream's format. */
  writeSamples(samples: Float32Array): Promise<void> {
    return this.write(encodePcm(samples, this.o.format));
  }

  /**
   * Ends the stream: the server classifies what it has, sends the last predictions and closes.
   * @throws SoundeeClientError when the server ended the stream with an error.
   */
  async end(): Promise<IngestSummary> {
    this.check();
    this.ws.send(JSON.stringify({ type: 'end' }));
    const { code } = await this.closed;
    if (code !== 1000 || this.failure)
      throw this.failure ?? new SoundeeClientError('ERR_CLOSED', `the server closed the stream (${code})`, { closeCode: code });
    return { streamId: this.o.streamId, windows: this.windows, predictions: this.predictions, events: this.events };
  }

  /** Drops the stream at once. */
  abort(): void {
    this.ws.terminate();
  }
}

/** How fast audio is sent: as it would be recorded, or as fast as the server takes it. */
export type IngestPace = 'realtime' | 'fast';

export interface IngestSamplesOptions extends Omit<IngestConnectOptions, 'sampleRateHz' | 'format'> {
  pace?: IngestPace;
  /** Audio per frame. Default 100 ms in real time, 1000 ms fast. */
  chunkMillis?: number;
  /** Wire format. Default s16le. */
  format?: PcmFormat;
}

/** Streams mono samples at `sampleRateHz`; resolves when the server has classified all of them. */
export async function ingestSamples(samples: Float32Array, sampleRateHz: number, o: IngestSamplesOptions): Promise<IngestSummary> {
  const pace = o.pace ?? 'fast';
  const format = o.format ?? 's16le';
  const conn = await IngestConnection.open({ ...o, sampleRateHz, format });
  try {
    const chunk = Math.max(1, Math.round(((o.chunkMillis ?? (pace === 'realtime' ? 100 : 1000)) * sampleRateHz) / 1000));
    const t0 = performance.now();
    for (let i = 0; i * chunk < samples.length; i++) {
      if (pace === 'realtime') {
        // chunk i is complete (recorded) at the end of its span; waiting for absolute times keeps drift out
        const due = t0 + (((i + 1) * chunk) / sampleRateHz) * 1000;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
      }
      await conn.writeSamples(samples.subarray(i * chunk, Math.min(samples.length, (i + 1) * chunk)));
    }
    return await conn.end();
  } catch (e) {
    conn.abort();
    throw e;
  }
}

/**
 * Streams a WAV file (any format `soundee replay` reads). Integer files of up to 16 bits go as
 * s16le, others as f32le; a rate the server does not resample is converted to 16 kHz here.
 * The stream id defaults to the file's name.
 */
export async function ingestWav(
  file: string,
  o: Omit<IngestSamplesOptions, 'streamId' | 'format'> & { streamId?: string },
): Promise<IngestSummary> {
  const wav = await readWav(file);
  let { samples, sampleRateHz } = wav;
  if (!(RESAMPLED_RATES_HZ as readonly number[]).includes(sampleRateHz)) {
    samples = await resample(samples, sampleRateHz, 16000);
    sampleRateHz = 16000;
  }
  const format: PcmFormat = wav.encoding === 'int' && wav.bitsPerSample <= 16 ? 's16le' : 'f32le';
  return ingestSamples(samples, sampleRateHz, { ...o, streamId: o.streamId ?? basename(file), format });
}

export interface IngestPcmOptions extends IngestConnectOptions {
  /**
   * 'source' (default): send chunks as the source yields them (a live source paces itself);
   * 'realtime': hold each chunk until its audio would have been recorded; 'fast': no waiting.
   */
  pace?: IngestPace | 'source';
}

/** Streams raw PCM bytes (a Node Readable or any async iterable of bytes) in the given format and rate. */
export async function ingestPcm(source: AsyncIterable<Uint8Array>, o: IngestPcmOptions): Promise<IngestSummary> {
  const conn = await IngestConnection.open(o);
  try {
    const bytesPerSecond = o.sampleRateHz * bytesPerSample(o.format);
    // small chunks are gathered into messages of at least 20 ms of audio: fewer, larger frames
    const minBytes = Math.ceil(bytesPerSecond / 50);
    const t0 = performance.now();
    let sent = 0;
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    const flush = async () => {
      const bytes = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
      pending = [];
      pendingBytes = 0;
      await conn.write(bytes);
    };
    for await (const chunk of source) {
      sent += chunk.length;
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes < minBytes) continue;
      if (o.pace === 'realtime') {
        const wait = t0 + (sent / bytesPerSecond) * 1000 - performance.now();
        if (wait > 0) await sleep(wait);
      }
      await flush();
    }
    if (pendingBytes) await flush();
    return await conn.end();
  } catch (e) {
    conn.abort();
    throw e;
  }
}
