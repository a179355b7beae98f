/**
 * The Soundee server: protocol v1 over WebSocket, remote audio ingest, and the live dashboard.
 *
 * - `GET /` and the files beside it: the dashboard; `GET /v1/info`: the hello as JSON.
 * - `ws /v1/stream` (and `/`): subscribers get `hello`, the latest status per stream and kind, then
 *   predictions, events and statuses per their filter; events are numbered and held in a bounded
 *   history for `since` resumes.
 * - `ws /v1/ingest?streamId=…&sampleRateHz=…&format=s16le|f32le`: binary PCM in, that stream's
 *   predictions and events back (and to subscribers), through the shared engine (`ingest.engine`).
 *
 * It is built from parts with their own state: the HTTP front (./http-front.ts: connection limits,
 * deadlines, access, files, upgrade routing), the subscriber hub (./hub.ts: subscribers, filters, held
 * statuses, history, resumes, delivery through bounded outboxes), and the two WebSocket endpoints
 * (./stream-endpoint.ts, ./ingest-endpoint.ts). This module wires them and owns the one lifecycle:
 * `running` → `closing` → `closed`. Defaults and limits: ./limits.ts. See docs/protocol.md.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Subscription } from 'rxjs';
import type { WebSocket } from 'ws';
import { SoundeeError } from '../config.ts';
import type {
  EventInput,
  EventMessage,
  HelloMessage,
  PredictionMessage,
  ServerMessage,
  SpectrogramMessage,
  StatusMessage,
} from '../protocol/index.ts';
import type { Prediction, RenderedWindow } from '../stream/operators.ts';
import { isLoopbackAddress } from './access.ts';
import { addressKey } from './admission.ts';
import { Connection, type ConnectionLimits } from './connection.ts';
import { type HelloInfo, helloMessage } from './hello.ts';
import { type EndpointKind, HttpFront } from './http-front.ts';
import { SubscriberHub } from './hub.ts';
import { IngestEndpoint, type IngestOptions } from './ingest-endpoint.ts';
import { LearnEndpoint, isTeachPath } from './learn-endpoint.ts';
import { DEFAULT_SERVER_OPTIONS, type ServerLimits, resolveLimits } from './limits.ts';
import { predictionMessage, spectrogramMessage } from './messages.ts';
import type { OutboxOptions } from './outbox.ts';
import { StreamEndpoint } from './stream-endpoint.ts';
import { type TeachOptions, Teacher } from './teacher.ts';

export { PROTOCOL_VERSION } from '../protocol/index.ts';
export { type HelloInfo, helloFor } from './hello.ts';
export type { IngestOptions } from './ingest-endpoint.ts';
export type { TeachLimits, TeachOptions } from './teacher.ts';
export { DEFAULT_SERVER_OPTIONS, type ServerLimits } from './limits.ts';

/** Options of startServer; every limit left out takes its value from DEFAULT_SERVER_OPTIONS. */
export interface ServerOptions extends Partial<ServerLimits> {
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
  /**
   * Learns classes when given (POST /v1/learn, DELETE /v1/classes/<label>, POST /v1/clip; GET
   * /v1/classes): the engine whose model is extended and swapped, the model's directory, where new
   * models go. Without it those endpoints answer ERR_LEARN_DISABLED.
   */
  learn?: TeachOptions;
  /** Called with every event as published, with its id (e.g. to forward it to MQTT). */
  onEvent?: (event: EventMessage) => void;
  /** Interval of WebSocket pings; a client that has not answered the previous one is terminated. Default 30 000 ms. */
  heartbeatMillis?: number;
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

/** Where a server is in its life: it only moves forward. */
export type ServerState = 'running' | 'closing' | 'closed';

/** A running server. */
export interface SoundeeServer {
  readonly port: number;
  readonly host: string;
  /** Random per process; clients pass it back with `since`. */
  readonly serverId: string;
  readonly state: ServerState;
  /** The limits in force. */
  readonly limits: Readonly<ServerLimits>;
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
  /** Open WebSocket connections (subscribers and ingest). */
  readonly clientCount: number;
  /** Open TCP connections (WebSockets, page loads, sockets yet to send their request). */
  readonly connectionCount: number;
  /** Open ingest stream ids. */
  readonly ingestStreams: string[];
  /** Stops taking connections, tells every client (ERR_SHUTDOWN), closes them (cut after a grace period) and the listener. */
  close(): Promise<void>;
}

/** Starts the HTTP + WebSocket server; resolves once it listens. */
export async function startServer(options: ServerOptions): Promise<SoundeeServer> {
  const server = new Server(options);
  await server.listen(options.port ?? DEFAULT_SERVER_OPTIONS.port);
  return server;
}

/** The parts, wired; a class with one explicit state, like ws's WebSocketServer. */
class Server implements SoundeeServer {
  readonly host: string;
  readonly serverId = randomBytes(6).toString('hex');
  readonly limits: Readonly<ServerLimits>;
  port = 0;
  private current: ServerState = 'running';
  private closed: Promise<void> | undefined;
  private readonly hub: SubscriberHub;
  private readonly ingest: IngestEndpoint;
  private readonly stream: StreamEndpoint;
  private readonly front: HttpFront;
  private readonly teacher: Teacher | undefined;
  private readonly modelChanges: Subscription | undefined;
  /** Every open WebSocket connection, for heartbeats and shutdown. */
  private readonly connections = new Set<Connection>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly connectionLimits: ConnectionLimits;
  private readonly log: (line: string) => void;

  constructor(private readonly o: ServerOptions) {
    const d = DEFAULT_SERVER_OPTIONS;
    const limits = (this.limits = resolveLimits(o));
    this.host = o.host ?? d.host;
    this.log = o.log ?? ((line: string) => void process.stderr.write(`soundee: ${line}\n`));
    this.connectionLimits = {
      maxMessageBytes: o.maxMessageBytes ?? d.maxMessageBytes,
      maxMessagesPerSecond: o.maxMessagesPerSecond ?? d.maxMessagesPerSecond,
      closeTimeoutMillis: d.closeTimeoutMillis,
    };
    const { maxSubscribers, maxSubscribersPerAddress, historySize } = limits;
    this.hub = new SubscriberHub({
      serverId: this.serverId,
      historySize,
      maxSubscribers,
      maxSubscribersPerAddress,
      maxHeldStatuses: d.maxHeldStatuses,
      outbox: { ...d.outbox, ...o.outbox },
      ...(o.onEvent ? { onEvent: o.onEvent } : {}),
    });
    const maxFrameBytes = o.maxFrameBytes ?? d.maxFrameBytes;
    this.ingest = new IngestEndpoint(
      o.ingest,
      {
        maxStreams: limits.maxStreams,
        maxStreamsPerAddress: limits.maxStreamsPerAddress,
        maxFrameBytes,
        maxFramesPerSecond: o.maxFramesPerSecond ?? d.maxFramesPerSecond,
        maxBacklogWindows: d.maxBacklogWindows,
      },
      { hub: this.hub, window: (id, r) => this.publishWindow(id, r), log: this.log },
    );
    this.stream = new StreamEndpoint(this.hub);
    this.teacher = o.learn && new Teacher(o.learn, (s) => void this.hub.publishStatus({ kind: 'learn', ...s }));
    const teach = { ...d.teach, ...o.learn?.limits };
    const learn = new LearnEndpoint(this.teacher, {
      maxRequestsPerSecond: teach.maxRequestsPerSecond,
      maxBodyBytes: teach.maxBodyBytes,
      maxClipBytes: teach.maxClipBytes,
      log: this.log,
    });
    // a new model (learned here, or swapped by the application): every connection gets the new hello
    this.modelChanges = (o.learn?.engine ?? o.ingest?.engine)?.modelChanges.subscribe((c) => {
      this.hub.broadcastHello(this.hello());
      this.hub.publishStatus({
        kind: 'model',
        state: 'changed',
        model: { name: c.model.name, architecture: c.model.architecture },
        classes: [...c.model.classes],
        added: c.added,
        removed: c.removed,
      });
    });
    this.front = new HttpFront({
      policy: { ...(o.token ? { token: o.token } : {}), origins: o.origins ?? [], loopback: isLoopbackAddress(this.host) },
      token: o.token,
      maxConnections: limits.maxConnections,
      maxConnectionsPerAddress: limits.maxConnectionsPerAddress,
      handshakeTimeoutMillis: limits.handshakeTimeoutMillis,
      maxMessageBytes: this.connectionLimits.maxMessageBytes,
      maxFrameBytes,
      publicDir: o.publicDir,
      info: () => this.hello(),
      closing: () => this.current !== 'running',
      onWebSocket: (kind, ws, req, url) => this.onWebSocket(kind, ws, req, url),
      api: { owns: isTeachPath, handle: (req, res, url, address) => learn.handle(req, res, url, address) },
      log: this.log,
    });
    this.heartbeat = setInterval(() => this.beat(), o.heartbeatMillis ?? d.heartbeatMillis);
    this.heartbeat.unref();
  }

  async listen(port: number): Promise<void> {
    try {
      this.port = (await this.front.listen(port, this.host)).port;
    } catch (e) {
      clearInterval(this.heartbeat);
      throw e;
    }
  }

  get state(): ServerState {
    return this.current;
  }

  get lastEventId(): number {
    return this.hub.lastEventId;
  }

  get clientCount(): number {
    return this.connections.size;
  }

  get connectionCount(): number {
    return this.front.gate.size;
  }

  get ingestStreams(): string[] {
    return this.ingest.streamIds;
  }

  publish(message: { type: string } & Record<string, unknown>): ServerMessage {
    return publish(this.hub, message);
  }

  publishPrediction(p: Prediction): PredictionMessage {
    return this.hub.publishPrediction(predictionMessage(p));
  }

  publishEvent(e: EventInput): EventMessage {
    return this.hub.publishEvent(e);
  }

  publishStatus(s: { kind?: string } & Record<string, unknown>): StatusMessage {
    return this.hub.publishStatus(s);
  }

  publishWindow(streamId: string, r: RenderedWindow): void {
    if (!this.hub.wants('spectrogram', streamId)) return;
    const features = this.o.ingest?.engine.features ?? this.o.hello().features;
    this.hub.publishSpectrogram(spectrogramMessage(streamId, r, features));
  }

  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  private hello(): HelloMessage {
    return helloMessage(this.o.hello(), {
      serverId: this.serverId,
      lastEventId: this.hub.lastEventId,
      ingestStreams: this.ingest.streamIds,
      ingest: this.ingest.helloInfo,
      learn: this.teacher !== undefined,
    });
  }

  private onWebSocket(kind: EndpointKind, ws: WebSocket, req: IncomingMessage, url: URL): void {
    const conn = new Connection(ws, kind, addressKey(req.socket.remoteAddress), this.connectionLimits);
    this.connections.add(conn);
    ws.once('close', () => this.connections.delete(conn));
    try {
      if (kind === 'ingest') this.ingest.accept(conn, url, () => this.hello());
      else this.stream.accept(conn, url, () => this.hello());
    } catch (e) {
      this.log(`connection: ${(e as Error).stack ?? String(e)}`);
      conn.error('ERR_INTERNAL', 'internal error');
    }
  }

  /** Pings every connection; one that has not answered the previous ping is cut. */
  private beat(): void {
    for (const c of this.connections) {
      // a connection we stopped reading from (ingest back-pressure) cannot answer pings
      if (c.ws.isPaused) continue;
      if (!c.alive) {
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }

  /** running → closing: refuse new WebSockets, stop the streams, tell every client, wait (bounded), cut the rest; → closed. */
  private async shutdown(): Promise<void> {
    this.current = 'closing';
    clearInterval(this.heartbeat);
    this.modelChanges?.unsubscribe();
    this.teacher?.close();
    const all = [...this.connections];
    const gone = all.map((c) => new Promise<void>((r) => (c.ws.readyState === c.ws.CLOSED ? r() : c.ws.once('close', () => r()))));
    this.ingest.shutdown();
    this.hub.closeAll(() => {});
    for (const c of all) c.error('ERR_SHUTDOWN', 'the server is shutting down');
    const grace = new Promise<void>((r) => setTimeout(r, DEFAULT_SERVER_OPTIONS.shutdownGraceMillis).unref());
    await Promise.race([Promise.all(gone), grace]);
    for (const c of this.connections) c.ws.terminate();
    await Promise.all(gone);
    await this.front.close();
    this.current = 'closed';
  }
}

/** The generic publish: a message of any publishable type, checked against its schema. */
function publish(hub: SubscriberHub, message: { type: string } & Record<string, unknown>): ServerMessage {
  switch (message.type) {
    case 'prediction': {
      const rms = message.rmsDb;
      // digital silence's -Infinity goes out as null (JSON has no -Infinity)
      return hub.publishPrediction({
        ...message,
        rmsDb: typeof rms === 'number' && !Number.isFinite(rms) ? null : rms,
      } as unknown as PredictionMessage);
    }
    case 'event':
      return hub.publishEvent(message as unknown as EventInput);
    case 'status':
      return hub.publishStatus(message);
    case 'spectrogram':
      return hub.publishSpectrogram(message as unknown as SpectrogramMessage);
    default:
      throw new SoundeeError(
        'ERR_PROTOCOL',
        `cannot publish a message of type ${JSON.stringify(message.type)}; expected prediction, event, status or spectrogram`,
      );
  }
}
