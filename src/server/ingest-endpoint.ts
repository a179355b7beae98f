/**
 * `/v1/ingest`: remote audio in. The endpoint checks a handshake's stream parameters and limits
 * (stream ids are unique while open; at most `maxStreams` in all and `maxStreamsPerAddress` per remote
 * address), opens an `IngestStream` (./ingest.ts) per connection, feeds it the binary frames within
 * the size and rate limits, applies its back-pressure to the socket, and publishes what it produces
 * through the hub — the connection itself gets its own stream's messages as a hub subscriber.
 */
import WebSocket, { type RawData } from 'ws';
import { SoundeeError } from '../config.ts';
import type { Engine } from '../engine/engine.ts';
import { DEFAULT_TYPES, validateClientMessage } from '../protocol/index.ts';
import type { RenderedWindow } from '../stream/operators.ts';
import { TokenBucket } from '../util/token-bucket.ts';
import type { Connection } from './connection.ts';
import type { SubscriberHub } from './hub.ts';
import { type IngestParams, IngestStream, acceptedRates, parseIngestParams } from './ingest.ts';

/** Remote audio ingest: the engine every ingest stream shares. */
export interface IngestOptions {
  /**
   * The shared engine: one model and batched inference, the resampling rule, the level gate and the
   * event settings for every stream (the same engine listen and replay use).
   */
  engine: Engine;
  /** Windows in flight per stream before the server stops reading from its client. Default 64. */
  maxBacklogWindows?: number;
}

export interface IngestLimits {
  maxStreams: number;
  maxStreamsPerAddress: number;
  maxFrameBytes: number;
  maxFramesPerSecond: number;
  maxBacklogWindows: number;
}

/** Where an ingest stream's output goes (the hub, and the server's spectrogram rendering). */
export interface IngestOutlet {
  hub: SubscriberHub;
  window(streamId: string, r: RenderedWindow): void;
  /** Server-side details of a failure (never sent to clients). */
  log(line: string): void;
}

/** One open ingest connection. */
class Session {
  stream: IngestStream | undefined;
  /** `end` was received, or the stream finished or failed: no more audio is taken. */
  ended = false;
  /** Messages that arrived before the stream (and its resampler) existed. */
  readonly early: [RawData, boolean][] = [];
  readonly frames: TokenBucket;

  constructor(
    readonly conn: Connection,
    readonly params: IngestParams,
    limits: IngestLimits,
  ) {
    this.frames = new TokenBucket(limits.maxFramesPerSecond, 2 * limits.maxFramesPerSecond);
  }

  get streamId(): string {
    return this.params.streamId;
  }

  /** The fields of this stream's statuses. */
  get base() {
    const { streamId, sampleRateHz, format } = this.params;
    return { kind: 'stream', streamId, source: 'ingest', sampleRateHz, format };
  }
}

export class IngestEndpoint {
  /** Stream ids in use: reserved at the handshake, released when the stream ends, fails or its connection closes. */
  private readonly sessions = new Map<string, Session>();
  private shuttingDown = false;

  constructor(
    private readonly ingest: IngestOptions | undefined,
    private readonly limits: IngestLimits,
    private readonly out: IngestOutlet,
  ) {}

  get enabled(): boolean {
    return this.ingest !== undefined;
  }

  /** Open stream ids. */
  get streamIds(): string[] {
    return [...this.sessions.keys()];
  }

  /** What hello says about ingest. */
  get helloInfo() {
    return {
      enabled: this.ingest !== undefined,
      sampleRatesHz: this.ingest ? acceptedRates(this.ingest.engine.features.sampleRateHz) : [],
      maxFrameBytes: this.limits.maxFrameBytes,
      maxFramesPerSecond: this.limits.maxFramesPerSecond,
    };
  }

  /**
   * Takes a new `/v1/ingest` connection: checks its parameters and the limits (refusing with a fatal
   * error), sends hello, and opens its stream; nothing is read from the socket until the stream exists.
   */
  accept(conn: Connection, url: URL, hello: () => object): void {
    const { ingest } = this;
    if (!ingest) return conn.error('ERR_INGEST_DISABLED', 'this server does not accept audio (start it with soundee serve)');
    const params = parseIngestParams(url, ingest.engine.features.sampleRateHz);
    if ('code' in params) return conn.error(params.code, params.message);
    const refusal = this.refusal(params.streamId, conn.address);
    if (refusal) return conn.error(refusal.code, refusal.message, refusal.streamId);

    conn.ws.pause(); // nothing is read until the stream (and its resampler) exists
    conn.sendNow(hello());
    const s = new Session(conn, params, this.limits);
    this.sessions.set(params.streamId, s);
    conn.subscriber = this.out.hub.add(conn, {
      address: conn.address,
      filter: { streams: [params.streamId], types: DEFAULT_TYPES },
      ingest: true,
    });
    conn.onClosing = () => {
      this.out.hub.remove(conn.subscriber!);
      this.release(s);
    };
    conn.ws.once('close', () => this.onClose(s));
    // ws.pause() lets already-buffered messages through: those wait in `early` until the stream exists
    conn.ws.on('message', (data, isBinary) => {
      conn.alive = true;
      if (conn.closing) return;
      if (!s.stream) return void s.early.push([data, isBinary]);
      this.onMessage(s, data, isBinary);
    });
    this.open(s, ingest);
  }

  /**
   * Aborts every stream (shutdown): each open event gets its `end` (reason shutdown) through the hub
   * before this returns, so subscribers have it before their connections close; the streams' end
   * is told by the hub's shutdown notice.
   */
  shutdown(): void {
    this.shuttingDown = true;
    for (const s of this.sessions.values()) {
      s.ended = true;
      s.stream?.abort('shutdown');
    }
  }

  private refusal(
    streamId: string,
    address: string,
  ): { code: 'ERR_TOO_MANY_STREAMS' | 'ERR_STREAM_EXISTS'; message: string; streamId?: string } | undefined {
    const { maxStreams, maxStreamsPerAddress } = this.limits;
    if (this.sessions.has(streamId))
      return { code: 'ERR_STREAM_EXISTS', message: `an ingest stream named ${JSON.stringify(streamId)} is already open`, streamId };
    if (this.sessions.size >= maxStreams)
      return { code: 'ERR_TOO_MANY_STREAMS', message: `the server has ${maxStreams} ingest streams open, its limit; try again later` };
    let mine = 0;
    for (const s of this.sessions.values()) if (s.conn.address === address) mine++;
    if (mine >= maxStreamsPerAddress)
      return {
        code: 'ERR_TOO_MANY_STREAMS',
        message: `this address has ${maxStreamsPerAddress} ingest streams open, the limit per address`,
      };
    return undefined;
  }

  private open(s: Session, ingest: IngestOptions): void {
    const { conn, streamId } = s;
    const { hub } = this.out;
    IngestStream.open(s.params, {
      engine: ingest.engine,
      maxBacklogWindows: ingest.maxBacklogWindows ?? this.limits.maxBacklogWindows,
      onPrediction: (m) => hub.publishPrediction(m),
      onEvent: (e) => hub.publishEvent(e),
      onRendered: (r) => this.out.window(streamId, r),
      onBackpressure: (paused) => {
        if (paused) conn.ws.pause();
        else if (conn.ws.readyState === WebSocket.OPEN) {
          conn.alive = true;
          conn.ws.resume();
        }
      },
      onDone: ({ windows, error }) => this.onDone(s, windows, error),
    }).then(
      (stream) => {
        if (conn.ws.readyState !== WebSocket.OPEN || this.shuttingDown) return stream.abort();
        s.stream = stream;
        hub.publishStatus({ ...s.base, state: 'started' });
        for (const [data, isBinary] of s.early.splice(0)) this.onMessage(s, data, isBinary);
        conn.ws.resume();
      },
      (e: unknown) => {
        this.out.log(`ingest ${JSON.stringify(streamId)}: cannot open: ${(e as Error).stack ?? String(e)}`);
        conn.error('ERR_INTERNAL', 'internal error while opening the stream', streamId);
      },
    );
  }

  private onMessage(s: Session, data: RawData, isBinary: boolean): void {
    const { conn, streamId } = s;
    if (conn.closing || !s.stream) return;
    if (!isBinary) return this.onText(s, data);
    if (s.ended) return conn.error('ERR_BAD_MESSAGE', 'audio after end is ignored', streamId);
    const frame = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    const { maxFrameBytes, maxFramesPerSecond } = this.limits;
    if (frame.length > maxFrameBytes)
      return conn.error(
        'ERR_FRAME_TOO_LARGE',
        `a frame of ${frame.length} bytes is over the limit of ${maxFrameBytes}; send smaller frames`,
        streamId,
      );
    if (!s.frames.take())
      return conn.error('ERR_RATE_LIMIT', `more than ${maxFramesPerSecond} frames per second; send larger frames`, streamId);
    try {
      s.stream.write(new Uint8Array(frame.buffer, frame.byteOffset, frame.length));
    } catch (e) {
      if (e instanceof SoundeeError && e.code === 'ERR_PCM_ALIGNMENT') return conn.error('ERR_PCM_ALIGNMENT', e.message, streamId);
      this.out.log(`ingest ${JSON.stringify(streamId)}: ${(e as Error).stack ?? String(e)}`);
      return conn.error('ERR_INTERNAL', 'internal error while processing audio', streamId);
    }
  }

  /** Text on an ingest connection: `end` and `ping` only. */
  private onText(s: Session, data: RawData): void {
    const { conn } = s;
    const msg = conn.readText(data);
    if (msg === undefined) return;
    const type = typeof msg === 'object' && msg !== null ? (msg as { type?: unknown }).type : undefined;
    if ((type === 'end' || type === 'ping') && validateClientMessage(msg).ok) {
      if (type === 'ping') return conn.pong((msg as { id?: string | number }).id);
      if (!s.ended) {
        s.ended = true;
        s.stream!.end();
      }
      return;
    }
    conn.error(
      'ERR_EXPECTED_BINARY',
      'an ingest connection takes binary PCM frames (and the text messages {"type":"end"} and {"type":"ping"})',
      s.streamId,
    );
  }

  /** The stream has classified everything after `end` (or failed). */
  private onDone(s: Session, windows: number, error: unknown): void {
    const { conn, streamId } = s;
    const { hub } = this.out;
    s.ended = true;
    if (error !== undefined) {
      this.out.log(`ingest ${JSON.stringify(streamId)} failed: ${(error as Error).stack ?? String(error)}`);
      hub.publishStatus({ ...s.base, state: 'failed', windows, reason: 'internal error' });
      return conn.error('ERR_INTERNAL', 'internal error while classifying this stream', streamId);
    }
    this.release(s);
    hub.publishStatus({ ...s.base, state: 'ended', windows });
    conn.closeWhenFlushed(1000, 'end of stream');
  }

  /** The connection has closed: a stream that had not ended is aborted (its open events end, reason stream-ended), and subscribers hear of it. */
  private onClose(s: Session): void {
    this.release(s);
    this.out.hub.remove(s.conn.subscriber!);
    if (!s.stream || s.ended) return;
    s.ended = true;
    s.stream.abort('stream-ended');
    if (!this.shuttingDown)
      this.out.hub.publishStatus({
        ...s.base,
        state: 'ended',
        windows: s.stream.windowCount,
        reason: 'the client disconnected before end',
      });
  }

  /** Frees the stream id (at the stream's end or failure, not only when the socket has closed). */
  private release(s: Session): void {
    if (this.sessions.get(s.streamId) === s) this.sessions.delete(s.streamId);
  }
}
