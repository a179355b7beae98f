/**
 * The Soundee server: protocol v1 over WebSocket, remote audio ingest, and the live dashboard.
 *
 * - `GET /` and the files beside it: the dashboard; `GET /v1/info`: the hello as JSON.
 * - `ws /v1/stream` (and `/`): subscribers get `hello`, the latest status per stream and kind, then
 *   predictions, events and statuses per their filter; events are numbered and held in a bounded
 *   history for `since` resumes.
 * - `ws /v1/ingest?streamId=…&sampleRateHz=…&format=s16le|f32le`: binary PCM in, that stream's
 *   predictions and events back (and to subscribers), through the shared `BatchQueue`.
 *
 * Every client has a bounded outbox (./outbox.ts): a slow one loses predictions (counted), never
 * events silently, and never slows the pipeline or the others. See docs/protocol.md.
 */
import { randomBytes } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, STATUS_CODES, createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { type FeatureConfig, SoundeeError } from '../config.ts';
import { PCM_FORMATS } from '../audio/pcm.ts';
import type { Engine } from '../engine/engine.ts';
import type { ImageClassifier } from '../model/classifier.ts';
import type { Prediction, RenderedWindow } from '../stream/operators.ts';
import { type AccessPolicy, TOKEN_COOKIE, checkAccess, isLoopbackAddress } from './access.ts';
import { EventHistory } from './history.ts';
import { IngestStream, acceptedRates, parseIngestParams } from './ingest.ts';
import { predictionMessage, spectrogramMessage } from './messages.ts';
import { type DroppableKind, Outbox, type OutboxOptions } from './outbox.ts';
import {
  DEFAULT_TYPES,
  ERROR_CODES,
  type ErrorCode,
  type ErrorMessage,
  type EventInput,
  type EventMessage,
  type Filter,
  type HelloMessage,
  type MqttInfo,
  INGEST_PATH,
  PROTOCOL_VERSION,
  type PredictionMessage,
  type ResumeStatus,
  STREAM_PATH,
  type ServerMessage,
  type StatusMessage,
  type SubscribableType,
  SUBSCRIBABLE_TYPES,
  type SubscribeMessage,
  matchesFilter,
  validateClientMessage,
  validateServerMessage,
} from './protocol.ts';
import { TokenBucket } from './rate.ts';
import { type StaticFile, loadStaticFiles } from './static.ts';

export { PROTOCOL_VERSION } from './protocol.ts';

/** What the application tells every client about itself (the server adds the protocol fields). */
export interface HelloInfo {
  model: { name: string; architecture: string };
  classes: readonly string[];
  features: FeatureConfig;
  confidenceThreshold: number;
  streams: string[];
  /** The MQTT bridge's state, when there is one (shown in hello and /v1/info). */
  mqtt?: MqttInfo;
}

/** The hello of a server that runs `classifier` (its name, classes, feature config and threshold) for `streams`. */
export function helloFor(classifier: ImageClassifier, streams: string[] = []): HelloInfo {
  return {
    model: { name: classifier.name, architecture: classifier.architecture },
    classes: classifier.classes,
    features: classifier.features,
    confidenceThreshold: classifier.threshold,
    streams,
  };
}

/** Remote audio ingest: the engine every ingest stream shares. */
export interface IngestOptions {
  /** The shared engine: one model, batched inference, the level gate and the event settings for every stream. */
  engine: Engine;
  /** Windows in flight per stream before the server stops reading from its client. Default 64. */
  maxBacklogWindows?: number;
}

export interface ServerOptions {
  /** Interface to bind. Default 127.0.0.1 (local only). */
  host?: string;
  /** Port; 0 picks a free one. Default 8080. */
  port?: number;
  hello: () => HelloInfo;
  /** Token every HTTP request and WebSocket handshake must carry. Default: none. */
  token?: string;
  /** Browser origins allowed besides the server's own (`*`: any). Default: none. */
  origins?: readonly string[];
  /** Accepts audio on /v1/ingest when given. */
  ingest?: IngestOptions;
  /** Called with every event as published, with its id (e.g. to forward it to MQTT). */
  onEvent?: (event: EventMessage) => void;
  /** Events held for `since` resumes. Default 1000. */
  historySize?: number;
  /** Interval of WebSocket pings; a client that has not answered the previous one is terminated. Default 30 000 ms. */
  heartbeatMillis?: number;
  /** Open WebSocket connections (subscribers and ingest). Default 64. */
  maxConnections?: number;
  /** Open ingest streams, in all. Default 16. */
  maxStreams?: number;
  /** Open ingest streams per client address. Default 4. */
  maxStreamsPerClient?: number;
  /** Largest text message a client may send, in bytes. Default 16 KiB. */
  maxMessageBytes?: number;
  /** Largest binary ingest frame, in bytes. Default 256 KiB (e.g. 1.3 s of 48 kHz f32le). */
  maxFrameBytes?: number;
  /** Text messages per second per connection (bursts of twice that). Default 20. */
  maxMessagesPerSecond?: number;
  /** Binary frames per second per ingest connection (bursts of twice that). Default 500. */
  maxFramesPerSecond?: number;
  /** Per-client send queue limits. */
  outbox?: OutboxOptions;
  /** Where server-side problems are logged (internal errors with their details). Default: stderr. */
  log?: (line: string) => void;
  /** Folder of the dashboard files. Default: the bundled one. */
  publicDir?: string;
}

/** A running server. */
export interface SoundeeServer {
  readonly port: number;
  readonly host: string;
  /** Random per process; clients pass it back with `since`. */
  readonly serverId: string;
  /**
   * Publishes a prediction, event, status or spectrogram message to every client whose filter
   * matches. Events get the next id and enter the history (a publisher's own `id` is ignored);
   * the message as sent is returned.
   * @throws SoundeeError ERR_PROTOCOL when the message does not match its schema.
   */
  publish(message: { type: string } & Record<string, unknown>): ServerMessage;
  /** Publishes a pipeline prediction (rounded for the wire). */
  publishPrediction(p: Prediction): PredictionMessage;
  /** Publishes an event; returns it with its id. */
  publishEvent(e: EventInput): EventMessage;
  /** Publishes a status (e.g. `{ kind: 'recorder', streamId, state: 'restarting', level, message }`); `kind` defaults to 'recorder'. */
  publishStatus(s: { kind?: string } & Record<string, unknown>): StatusMessage;
  /** Publishes the dashboard's view of a rendered window (skipped when nobody subscribed to spectrograms). */
  publishWindow(streamId: string, r: RenderedWindow): void;
  /** Id of the newest event (0 before the first). */
  readonly lastEventId: number;
  readonly clientCount: number;
  /** Open ingest stream ids. */
  readonly ingestStreams: string[];
  close(): Promise<void>;
}

interface Conn {
  readonly ws: WebSocket;
  readonly kind: 'subscriber' | 'ingest';
  readonly address: string;
  readonly outbox: Outbox;
  readonly bucket: TokenBucket;
  readonly frameBucket: TokenBucket;
  filter: Filter;
  alive: boolean;
  /** Ids of events sent on this connection (a replay never repeats one). */
  readonly sentEvents: Set<number>;
  closing: boolean;
  /** The ingest stream's id, reserved from the handshake on. */
  streamId?: string;
  stream?: IngestStream;
  ended?: boolean;
}

/** Statuses held for late subscribers (one per stream and kind). */
const MAX_HELD_STATUSES = 256;

const JSON_TYPE = 'application/json; charset=utf-8';
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const COMMON_HEADERS = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

function errorBody(code: ErrorCode, message: string): string {
  return JSON.stringify({ type: 'error', code, message, fatal: true } satisfies ErrorMessage);
}

/** Answers a refused WebSocket handshake with an HTTP status and a JSON error body. */
function rejectUpgrade(socket: Duplex, status: number, code: ErrorCode, message: string): void {
  const body = errorBody(code, message);
  const extra = status === 401 ? 'WWW-Authenticate: Bearer\r\n' : '';
  socket.on('error', () => {});
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: ${JSON_TYPE}\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** Reads the initial subscription from a stream URL's query (streams and classes repeat; types are comma-separated). */
function filterFromQuery(url: URL): { filter: Filter; since?: number; serverId?: string } | { error: string } {
  const q = url.searchParams;
  const filter: Filter = { types: DEFAULT_TYPES };
  if (q.has('types')) {
    const types = q
      .getAll('types')
      .flatMap((t) => t.split(','))
      .filter(Boolean);
    const bad = types.find((t) => !(SUBSCRIBABLE_TYPES as readonly string[]).includes(t));
    if (bad !== undefined) return { error: `unknown type ${JSON.stringify(bad)} in types; expected ${SUBSCRIBABLE_TYPES.join(', ')}` };
    filter.types = [...new Set(types)] as SubscribableType[];
  }
  if (q.has('streams')) filter.streams = q.getAll('streams');
  if (q.has('classes')) filter.classes = q.getAll('classes');
  const out: { filter: Filter; since?: number; serverId?: string } = { filter };
  const since = q.get('since');
  if (since !== null) {
    if (!/^\d{1,15}$/.test(since)) return { error: `since must be a non-negative integer, got ${JSON.stringify(since)}` };
    out.since = Number(since);
  }
  const serverId = q.get('serverId');
  if (serverId !== null) out.serverId = serverId;
  return out;
}

/** Starts the HTTP + WebSocket server; resolves once it listens. */
export async function startServer(options: ServerOptions): Promise<SoundeeServer> {
  const {
    host = '127.0.0.1',
    port = 8080,
    hello,
    token,
    origins = [],
    ingest,
    historySize = 1000,
    heartbeatMillis = 30_000,
    maxConnections = 64,
    maxStreams = 16,
    maxStreamsPerClient = 4,
    maxMessageBytes = 16 * 1024,
    maxFrameBytes = 256 * 1024,
    maxMessagesPerSecond = 20,
    maxFramesPerSecond = 500,
    outbox: outboxOptions = {},
    log = (line: string) => void process.stderr.write(`soundee: ${line}\n`),
    publicDir,
  } = options;

  const serverId = randomBytes(6).toString('hex');
  const history = new EventHistory(historySize);
  /** The latest status per (streamId, kind), in publishing order (see holdStatus). */
  const heldStatuses = new Map<string, StatusMessage>();
  const policy: AccessPolicy = { ...(token ? { token } : {}), origins, loopback: isLoopbackAddress(host) };
  const files: Map<string, StaticFile> = loadStaticFiles(publicDir);
  const conns = new Set<Conn>();
  /** Ingest stream ids in use: reserved at the handshake, released when the stream ends, fails or its connection closes. */
  const streams = new Map<string, Conn>();
  let closing: Promise<void> | undefined;

  const helloMessage = (): HelloMessage => {
    const info = hello();
    return {
      type: 'hello',
      protocolVersion: PROTOCOL_VERSION,
      serverId,
      model: { name: info.model.name, architecture: info.model.architecture },
      classes: [...info.classes],
      features: { ...info.features },
      confidenceThreshold: info.confidenceThreshold,
      streams: [...new Set([...info.streams, ...streams.keys()])],
      lastEventId: history.lastEventId,
      ...(info.mqtt ? { mqtt: { ...info.mqtt } } : {}),
      ingest: {
        enabled: ingest !== undefined,
        formats: [...PCM_FORMATS],
        sampleRatesHz: ingest ? acceptedRates(ingest.engine.features.sampleRateHz) : [],
        maxFrameBytes,
        maxFramesPerSecond,
      },
    };
  };

  // ------------------------------------------------------------------ sending

  /** Sends a fatal error (or a non-fatal one) and, for fatal codes, closes with the code's close code. */
  function sendError(conn: Conn | WebSocket, code: ErrorCode, message: string, streamId?: string): void {
    const ws = conn instanceof WebSocket ? conn : conn.ws;
    const close = ERROR_CODES[code].close;
    const msg: ErrorMessage = { type: 'error', code, message, fatal: close !== null, ...(streamId !== undefined ? { streamId } : {}) };
    if (close === null && !(conn instanceof WebSocket)) return conn.outbox.push(JSON.stringify(msg));
    if (ws.readyState !== WebSocket.OPEN) return;
    if (!(conn instanceof WebSocket)) {
      conn.closing = true;
      release(conn);
    }
    ws.send(JSON.stringify(msg));
    if (close !== null) closeSoon(ws, close, code);
  }

  /** Frees a connection's ingest stream id (at its end or failure, not only when the socket has closed). */
  function release(conn: Conn): void {
    if (conn.streamId !== undefined && streams.get(conn.streamId) === conn) streams.delete(conn.streamId);
  }

  /** Closes gracefully, and terminates if the peer does not answer the close within 5 s. */
  function closeSoon(ws: WebSocket, code: number, reason: string): void {
    ws.close(code, reason);
    const t = setTimeout(() => ws.terminate(), 5000);
    t.unref();
    ws.once('close', () => clearTimeout(t));
  }

  function deliver(conn: Conn, m: ServerMessage & { type: string }, data: string | Buffer, droppable?: DroppableKind): void {
    if (conn.closing || conn.ws.readyState !== WebSocket.OPEN) return;
    if (m.type === 'event') {
      conn.sentEvents.add(m.id);
      if (conn.sentEvents.size > 2 * history.capacity)
        for (const id of conn.sentEvents) if (id < history.oldestId) conn.sentEvents.delete(id);
    }
    conn.outbox.push(data, droppable);
  }

  function broadcast(m: ServerMessage, droppable?: DroppableKind): void {
    // encoded once for every client (ws would otherwise convert the string for each send)
    let data: Buffer | undefined;
    for (const c of conns) if (matchesFilter(c.filter, m)) deliver(c, m, (data ??= Buffer.from(JSON.stringify(m))), droppable);
  }

  function check<T extends ServerMessage>(m: T): T {
    const v = validateServerMessage(m);
    if (!v.ok) throw new SoundeeError('ERR_PROTOCOL', `cannot publish an invalid message: ${v.reason}`);
    return m;
  }

  function publishEvent(e: EventInput): EventMessage {
    const { type: _t, id: _id, ...input } = e as EventInput & { type?: unknown; id?: unknown };
    // validate before appending, so that a bad event does not use up an id
    check({ ...input, type: 'event', id: history.lastEventId + 1 } as EventMessage);
    const m = history.append(input);
    broadcast(m);
    options.onEvent?.(m);
    return m;
  }

  function publishStatus(s: { kind?: string } & Record<string, unknown>): StatusMessage {
    // a report without a kind is the live microphone's (the recorder's MicStatus, published as it is)
    const m = check({ type: 'status', ...s, kind: s.kind ?? 'recorder' } as StatusMessage);
    m.type = 'status';
    holdStatus(m);
    broadcast(m);
    return m;
  }

  /**
   * Keeps the latest status per (streamId, kind), for subscribers that connect later (a recorder's
   * state, an open stream): at most MAX_HELD_STATUSES, the oldest dropped first. A stream's statuses
   * are forgotten when it ends or fails, as it then leaves hello's `streams`.
   */
  function holdStatus(m: StatusMessage): void {
    const { kind, streamId, state } = m as { kind: string; streamId?: string; state?: unknown };
    if (kind === 'drops' || kind === 'resume') return; // answers to one connection
    if (kind === 'stream' && (state === 'ended' || state === 'failed')) {
      for (const [key, held] of heldStatuses) if ((held as { streamId?: string }).streamId === streamId) heldStatuses.delete(key);
      return;
    }
    const key = JSON.stringify([streamId ?? null, kind]);
    heldStatuses.delete(key); // re-added last: the map stays in publishing order
    heldStatuses.set(key, m);
    if (heldStatuses.size > MAX_HELD_STATUSES) heldStatuses.delete(heldStatuses.keys().next().value!);
  }

  function publishPrediction(p: Prediction): PredictionMessage {
    const m = check(predictionMessage(p));
    broadcast(m, 'prediction');
    return m;
  }

  function publishWindow(streamId: string, r: RenderedWindow): void {
    const probe = { type: 'spectrogram', streamId };
    if (![...conns].some((c) => matchesFilter(c.filter, probe))) return;
    const c = ingest?.engine.features ?? hello().features;
    broadcast(spectrogramMessage(streamId, r, c), 'spectrogram');
  }

  function publish(message: { type: string } & Record<string, unknown>): ServerMessage {
    switch (message.type) {
      case 'prediction': {
        const rms = message.rmsDb;
        const m = check({
          ...message,
          rmsDb: typeof rms === 'number' && !Number.isFinite(rms) ? null : rms,
        } as unknown as PredictionMessage);
        broadcast(m, 'prediction');
        return m;
      }
      case 'event':
        return publishEvent(message as unknown as EventInput);
      case 'status':
        return publishStatus(message);
      case 'spectrogram': {
        const m = check(message as unknown as ServerMessage);
        broadcast(m, 'spectrogram');
        return m;
      }
      default:
        throw new SoundeeError(
          'ERR_PROTOCOL',
          `cannot publish a message of type ${JSON.stringify(message.type)}; expected prediction, event, status or spectrogram`,
        );
    }
  }

  /** Sends the held events after `since` this connection has not had, then the resume status. */
  function replay(conn: Conn, since: number, claimedServerId?: string): void {
    const restarted = claimedServerId !== undefined && claimedServerId !== serverId;
    const { events, lost } = history.since(restarted ? 0 : since);
    let replayed = 0;
    for (const e of events) {
      if (conn.sentEvents.has(e.id) || !matchesFilter(conn.filter, e)) continue;
      deliver(conn, e, JSON.stringify(e));
      replayed++;
    }
    const status: ResumeStatus = {
      type: 'status',
      kind: 'resume',
      since,
      replayed,
      complete: !restarted && !lost,
      lastEventId: history.lastEventId,
    };
    if (restarted) status.reason = 'server-restarted';
    else if (lost) Object.assign(status, { reason: 'history-expired', lostFromId: lost.fromId, lostToId: lost.toId });
    // the answer to a request: sent whatever the filter says
    conn.outbox.push(JSON.stringify(status));
  }

  // ------------------------------------------------------------------ connections

  const subscriberWss = new WebSocketServer({
    noServer: true,
    maxPayload: 4 * maxMessageBytes,
    perMessageDeflate: false,
    clientTracking: false,
  });
  const ingestWss = new WebSocketServer({ noServer: true, maxPayload: 4 * maxFrameBytes, perMessageDeflate: false, clientTracking: false });

  function addConn(ws: WebSocket, kind: Conn['kind'], address: string, filter: Filter): Conn {
    const conn: Conn = {
      ws,
      kind,
      address,
      filter,
      alive: true,
      closing: false,
      sentEvents: new Set(),
      bucket: new TokenBucket(maxMessagesPerSecond, 2 * maxMessagesPerSecond),
      frameBucket: new TokenBucket(maxFramesPerSecond, 2 * maxFramesPerSecond),
      outbox: new Outbox(
        // Buffers must go out as text frames (ws sends a Buffer as binary by default)
        {
          get bufferedAmount() {
            return ws.bufferedAmount;
          },
          send: (data, cb) => ws.send(data, { binary: false }, cb),
        },
        outboxOptions,
        (dropped) =>
          JSON.stringify({ type: 'status', kind: 'drops', dropped: { ...dropped }, total: dropped.prediction + dropped.spectrogram }),
        () =>
          sendError(
            conn,
            'ERR_SLOW_CONSUMER',
            `this client fell too far behind (more than ${outboxOptions.maxQueued ?? 1000} events and statuses waiting); reconnect with since=<last event id> to get the missed events`,
          ),
      ),
    };
    conns.add(conn);
    ws.on('pong', () => (conn.alive = true));
    // ws itself answers protocol errors (e.g. a message over maxPayload: close 1009); make sure the socket goes
    ws.on('error', () => setTimeout(() => ws.terminate(), 2000).unref());
    return conn;
  }

  /** Marks text that is not JSON (distinct from any JSON value, including null). */
  const NOT_JSON = Symbol('not JSON');

  /**
   * Applies the size and rate limits every text message passes (refusing it with a fatal error when
   * over), then parses it. Returns undefined when refused, NOT_JSON when it does not parse.
   */
  function readText(conn: Conn, data: RawData): unknown {
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer | ArrayBuffer).byteLength;
    if (size > maxMessageBytes) {
      sendError(conn, 'ERR_FRAME_TOO_LARGE', `a text message of ${size} bytes is over the limit of ${maxMessageBytes}`);
      return undefined;
    }
    if (!conn.bucket.take()) {
      sendError(conn, 'ERR_RATE_LIMIT', `more than ${maxMessagesPerSecond} messages per second`);
      return undefined;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(data.toString());
    } catch {
      return NOT_JSON;
    }
    return msg;
  }

  function onSubscriber(ws: WebSocket, req: IncomingMessage, url: URL): void {
    const q = filterFromQuery(url);
    if ('error' in q) return sendError(ws, 'ERR_BAD_PARAMS', q.error);
    ws.send(JSON.stringify(helloMessage()));
    const conn = addConn(ws, 'subscriber', req.socket.remoteAddress ?? '', q.filter);
    // the current state (a recorder's latest report, open streams) for a client that connects late
    for (const m of heldStatuses.values()) if (matchesFilter(conn.filter, m)) deliver(conn, m, JSON.stringify(m));
    if (q.since !== undefined) replay(conn, q.since, q.serverId);
    ws.on('close', () => conns.delete(conn));
    ws.on('message', (data, isBinary) => {
      conn.alive = true;
      if (conn.closing) return;
      if (isBinary) return sendError(conn, 'ERR_UNEXPECTED_BINARY', `binary data is only accepted on ${INGEST_PATH}`);
      const msg = readText(conn, data);
      if (msg === undefined) return;
      if (msg === NOT_JSON) return sendError(conn, 'ERR_BAD_MESSAGE', 'not JSON: messages are JSON objects such as {"type":"subscribe"}');
      const v = validateClientMessage(msg);
      if (!v.ok) return sendError(conn, 'ERR_BAD_MESSAGE', v.reason);
      const m = msg as SubscribeMessage | { type: 'ping'; id?: string | number } | { type: 'end' };
      if (m.type === 'ping')
        return conn.outbox.push(JSON.stringify({ type: 'pong', ...(m.id !== undefined ? { id: m.id } : {}), serverTime: Date.now() }));
      if (m.type === 'end') return sendError(conn, 'ERR_BAD_MESSAGE', `end is for ${INGEST_PATH} connections`);
      conn.filter = {
        types: m.types ?? DEFAULT_TYPES,
        ...(m.streams ? { streams: m.streams } : {}),
        ...(m.classes ? { classes: m.classes } : {}),
      };
      if (m.since !== undefined) replay(conn, m.since, m.serverId);
    });
  }

  function onIngest(ws: WebSocket, req: IncomingMessage, url: URL): void {
    if (!ingest) return sendError(ws, 'ERR_INGEST_DISABLED', 'this server does not accept audio (start it with soundee serve)');
    const features = ingest.engine.features;
    const params = parseIngestParams(url, features.sampleRateHz);
    if ('code' in params) return sendError(ws, params.code, params.message);
    const address = req.socket.remoteAddress ?? '';
    if (streams.has(params.streamId))
      return sendError(
        ws,
        'ERR_STREAM_EXISTS',
        `an ingest stream named ${JSON.stringify(params.streamId)} is already open`,
        params.streamId,
      );
    if (streams.size >= maxStreams)
      return sendError(ws, 'ERR_TOO_MANY_STREAMS', `the server has ${maxStreams} ingest streams open, its limit; try again later`);
    const mine = [...streams.values()].filter((c) => c.address === address).length;
    if (mine >= maxStreamsPerClient)
      return sendError(ws, 'ERR_TOO_MANY_STREAMS', `this client has ${maxStreamsPerClient} ingest streams open, the limit per client`);

    const { streamId } = params;
    ws.pause(); // nothing is read until the stream (and its resampler) exists
    ws.send(JSON.stringify(helloMessage()));
    const conn = addConn(ws, 'ingest', address, { streams: [streamId], types: DEFAULT_TYPES });
    conn.streamId = streamId;
    streams.set(streamId, conn);
    const base = { streamId, source: 'ingest', sampleRateHz: params.sampleRateHz, format: params.format };

    ws.on('close', () => {
      conns.delete(conn);
      release(conn);
      if (conn.stream && !conn.ended) {
        conn.stream.abort();
        if (!closing)
          publishStatus({
            kind: 'stream',
            ...base,
            state: 'ended',
            windows: conn.stream.windowCount,
            reason: 'the client disconnected before end',
          });
      }
    });
    // ws.pause() lets already-buffered messages through: keep those until the stream exists
    const early: [RawData, boolean][] = [];
    ws.on('message', (data, isBinary) => {
      conn.alive = true;
      if (conn.closing) return;
      if (!conn.stream) return void early.push([data, isBinary]);
      onIngestMessage(data, isBinary);
    });
    const onIngestMessage = (data: RawData, isBinary: boolean): void => {
      if (conn.closing || !conn.stream) return;
      if (!isBinary) {
        const msg = readText(conn, data);
        if (msg === undefined) return;
        const type = typeof msg === 'object' && msg !== null ? (msg as { type?: unknown }).type : undefined;
        if ((type === 'end' || type === 'ping') && validateClientMessage(msg).ok) {
          if (type === 'ping') {
            const id = (msg as { id?: string | number }).id;
            return conn.outbox.push(JSON.stringify({ type: 'pong', ...(id !== undefined ? { id } : {}), serverTime: Date.now() }));
          }
          if (!conn.ended) {
            conn.ended = true;
            conn.stream.end();
          }
          return;
        }
        return sendError(
          conn,
          'ERR_EXPECTED_BINARY',
          'an ingest connection takes binary PCM frames (and the text messages {"type":"end"} and {"type":"ping"})',
          streamId,
        );
      }
      if (conn.ended) return sendError(conn, 'ERR_BAD_MESSAGE', 'audio after end is ignored', streamId);
      const frame = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (frame.length > maxFrameBytes)
        return sendError(
          conn,
          'ERR_FRAME_TOO_LARGE',
          `a frame of ${frame.length} bytes is over the limit of ${maxFrameBytes}; send smaller frames`,
          streamId,
        );
      if (!conn.frameBucket.take())
        return sendError(conn, 'ERR_RATE_LIMIT', `more than ${maxFramesPerSecond} frames per second; send larger frames`, streamId);
      try {
        conn.stream.write(new Uint8Array(frame.buffer, frame.byteOffset, frame.length));
      } catch (e) {
        if (e instanceof SoundeeError && e.code === 'ERR_PCM_ALIGNMENT') return sendError(conn, 'ERR_PCM_ALIGNMENT', e.message, streamId);
        log(`ingest ${JSON.stringify(streamId)}: ${(e as Error).stack ?? String(e)}`);
        return sendError(conn, 'ERR_INTERNAL', 'internal error while processing audio', streamId);
      }
    };

    IngestStream.open(params, {
      engine: ingest.engine,
      ...(ingest.maxBacklogWindows !== undefined ? { maxBacklogWindows: ingest.maxBacklogWindows } : {}),
      onPrediction: (m) => broadcast(check(m), 'prediction'),
      onEvent: (e) => publishEvent(e),
      onRendered: (r) => publishWindow(streamId, r),
      onBackpressure: (paused) => {
        if (paused) ws.pause();
        else if (ws.readyState === WebSocket.OPEN) {
          conn.alive = true;
          ws.resume();
        }
      },
      onDone: ({ windows, error }) => {
        conn.ended = true;
        if (error !== undefined) {
          log(`ingest ${JSON.stringify(streamId)} failed: ${(error as Error).stack ?? String(error)}`);
          publishStatus({ kind: 'stream', ...base, state: 'failed', windows, reason: 'internal error' });
          return sendError(conn, 'ERR_INTERNAL', 'internal error while classifying this stream', streamId);
        }
        release(conn);
        publishStatus({ kind: 'stream', ...base, state: 'ended', windows });
        closeWhenFlushed(conn, 1000, 'end of stream');
      },
    }).then(
      (stream) => {
        if (ws.readyState !== WebSocket.OPEN) return stream.abort();
        conn.stream = stream;
        publishStatus({ kind: 'stream', ...base, state: 'started' });
        for (const [data, isBinary] of early.splice(0)) onIngestMessage(data, isBinary);
        ws.resume();
      },
      (e: unknown) => {
        log(`ingest ${JSON.stringify(streamId)}: cannot open: ${(e as Error).stack ?? String(e)}`);
        sendError(conn, 'ERR_INTERNAL', 'internal error while opening the stream', streamId);
      },
    );
  }

  /** Closes once the outbox has handed everything to the socket (bounded wait). */
  function closeWhenFlushed(conn: Conn, code: number, reason: string, waitedMs = 0): void {
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    if (conn.outbox.queued === 0 || waitedMs >= 5000) {
      conn.closing = true;
      return closeSoon(conn.ws, code, reason);
    }
    setTimeout(() => closeWhenFlushed(conn, code, reason, waitedMs + 50), 50).unref();
  }

  // ------------------------------------------------------------------ HTTP

  function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
    res.writeHead(status, { ...COMMON_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body), ...headers });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(res, 405, JSON_TYPE, errorBody('ERR_METHOD', 'only GET and HEAD are served'), { allow: 'GET, HEAD' });
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return send(res, 404, JSON_TYPE, errorBody('ERR_NOT_FOUND', 'not found'));
    }
    const access = checkAccess(req.headers, url, policy);
    if (!access.ok)
      return send(
        res,
        access.status,
        JSON_TYPE,
        errorBody(access.code, access.message),
        access.status === 401 ? { 'www-authenticate': 'Bearer' } : {},
      );
    // a page opened with ?token= keeps working for its own scripts and reloads: the token moves into a cookie
    const cookie: Record<string, string> =
      access.tokenFrom === 'query' && token
        ? { 'set-cookie': `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/` }
        : {};
    if (url.pathname === '/v1/info') return send(res, 200, JSON_TYPE, JSON.stringify(helloMessage()), cookie);
    const file = files.get(url.pathname);
    if (!file) return send(res, 404, JSON_TYPE, errorBody('ERR_NOT_FOUND', 'not found'));
    const csp: Record<string, string> = file.contentType.startsWith('text/html') ? { 'content-security-policy': CSP } : {};
    send(res, 200, file.contentType, file.body, { ...csp, ...cookie });
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return rejectUpgrade(socket, 404, 'ERR_NOT_FOUND', 'not found');
    }
    const path = url.pathname;
    const wss = path === '/' || path === STREAM_PATH ? subscriberWss : path === INGEST_PATH ? ingestWss : undefined;
    if (!wss) return rejectUpgrade(socket, 404, 'ERR_NOT_FOUND', `no WebSocket endpoint at ${path}; use ${STREAM_PATH} or ${INGEST_PATH}`);
    if (closing) return rejectUpgrade(socket, 503, 'ERR_SHUTDOWN', 'the server is shutting down');
    const access = checkAccess(req.headers, url, policy);
    if (!access.ok) return rejectUpgrade(socket, access.status, access.code, access.message);
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (conns.size >= maxConnections)
        return sendError(ws, 'ERR_TOO_MANY_CONNECTIONS', `the server has ${maxConnections} connections, its limit; try again later`);
      try {
        if (wss === ingestWss) onIngest(ws, req, url);
        else onSubscriber(ws, req, url);
      } catch (e) {
        log(`connection: ${(e as Error).stack ?? String(e)}`);
        sendError(ws, 'ERR_INTERNAL', 'internal error');
      }
    });
  }

  const http: HttpServer = createServer((req, res) => {
    try {
      onRequest(req, res);
    } catch (e) {
      log(`http: ${(e as Error).stack ?? String(e)}`);
      if (!res.headersSent) send(res, 500, JSON_TYPE, errorBody('ERR_INTERNAL', 'internal error'));
      else res.destroy();
    }
  });
  // TCP connections in all (WebSockets included): the WebSocket limit plus room for page loads
  http.maxConnections = 2 * maxConnections;
  http.on('upgrade', onUpgrade);
  http.on('clientError', (_e, socket: Socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  const heartbeat = setInterval(() => {
    for (const c of conns) {
      // a connection we stopped reading from (ingest back-pressure) cannot answer pings
      if (c.ws.isPaused) continue;
      if (!c.alive) {
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }, heartbeatMillis);
  heartbeat.unref();

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  const addr = http.address() as AddressInfo;

  return {
    port: addr.port,
    host,
    serverId,
    publish,
    publishPrediction,
    publishEvent,
    publishStatus,
    publishWindow,
    get lastEventId() {
      return history.lastEventId;
    },
    get clientCount() {
      return conns.size;
    },
    get ingestStreams() {
      return [...streams.keys()];
    },
    close() {
      closing ??= (async () => {
        clearInterval(heartbeat);
        const all = [...conns];
        const closed = all.map(
          (c) => new Promise<void>((r) => (c.ws.readyState === WebSocket.CLOSED ? r() : c.ws.once('close', () => r()))),
        );
        // every stream first, so that subscribers still get the `end` of each open event (reason shutdown)
        for (const c of all) {
          c.stream?.abort('shutdown');
          c.ended = true;
        }
        for (const c of all) sendError(c, 'ERR_SHUTDOWN', 'the server is shutting down');
        const grace = new Promise<void>((r) => setTimeout(r, 1000).unref());
        await Promise.race([Promise.all(closed), grace]);
        for (const c of conns) c.ws.terminate();
        await Promise.all(closed);
        const httpClosed = new Promise<void>((r) => http.close(() => r()));
        http.closeAllConnections();
        await httpClosed;
      })();
      return closing;
    },
  };
}
