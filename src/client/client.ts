/**
 * The subscriber client: connects to `/v1/stream`, filters what it gets, dispatches typed messages,
 * and reconnects with exponential back-off, resuming events with `since` so none are missed
 * (when the server no longer holds them, a `resume` status with `complete: false` says so).
 *
 * The first connection is live only: the events a server held before the app connected are history,
 * not news, and are sent only when the app asks for them (`since`). Reconnections always resume from
 * the last event the client saw (or, before the first event, from where the first connection began).
 *
 * Depends only on the protocol module (and ws).
 */
import type WebSocket from 'ws';
import {
  type EventMessage,
  type HelloMessage,
  STREAM_PATH,
  type ServerMessage,
  type ServerMessageMap,
  type SubscribableType,
  validateServerMessage,
} from '../protocol/index.ts';
import {
  PERMANENT_CLOSE_CODES,
  PERMANENT_STATUSES,
  SoundeeClientError,
  type SocketOptions,
  endpointUrl,
  openSocket,
} from './connection.ts';

/** What to receive. Absent fields match everything; `types` defaults to prediction, event, status. */
export interface SubscriptionFilter {
  streams?: string[];
  classes?: string[];
  types?: SubscribableType[];
}

export interface ReconnectOptions {
  /** First wait after a lost connection. Default 250 ms. */
  initialDelayMs?: number;
  /** Longest wait. Default 10 000 ms. */
  maxDelayMs?: number;
  /** Growth per failed attempt. Default 2. */
  factor?: number;
  /** Random spread, as a fraction of the wait (±). Default 0.2. */
  jitter?: number;
  /** Attempts before giving up (then 'close' with willReconnect false). Default Infinity. */
  maxAttempts?: number;
}

export interface ClientOptions extends SocketOptions {
  /** Server URL: ws://host:port, wss://…, or the dashboard's http(s):// URL. */
  url: string;
  filter?: SubscriptionFilter;
  /** Reconnect automatically (default true), with these settings. */
  reconnect?: boolean | ReconnectOptions;
  /**
   * History on the first connection: the held events after this id (0: every event the server still
   * holds), then a `resume` status. Without it the first connection is live only. Pass the
   * `lastEventId` and `serverId` of an earlier client to resume where it left off.
   */
  since?: number;
  /** The server process `since` refers to (from an earlier hello). */
  serverId?: string;
  /** Check every received message against the protocol schemas (development aid). Default false. */
  validate?: boolean;
}

/** Connection lifecycle notifications. */
export interface LifecycleMap {
  /** Connected and greeted (every (re)connection). */
  open: HelloMessage;
  /** The connection ended; `willReconnect` says whether the client tries again. */
  close: { code: number; reason: string; willReconnect: boolean; error?: SoundeeClientError };
  /** Waiting before the next attempt. */
  reconnecting: { attempt: number; delayMs: number; error?: SoundeeClientError };
}

type Handlers = { [K in keyof ServerMessageMap]: Set<(m: ServerMessageMap[K]) => void> } & {
  [K in keyof LifecycleMap]: Set<(e: LifecycleMap[K]) => void>;
};
type AnyHandler = (m: unknown) => void;

const DEFAULT_RECONNECT: Required<ReconnectOptions> = {
  initialDelayMs: 250,
  maxDelayMs: 10_000,
  factor: 2,
  jitter: 0.2,
  maxAttempts: Infinity,
};

/**
 * A subscriber. Create it with `connect()`; it connects at once and keeps connected until `close()`.
 *
 * ```ts
 * const client = connect({ url: 'ws://127.0.0.1:8080', token, filter: { types: ['event'] } });
 * client.on('event', (e) => console.log(e.label, e.phase));
 * ```
 */
export class SoundeeClient {
  private ws: WebSocket | undefined;
  private filter: SubscriptionFilter;
  private readonly handlers: Handlers = {
    hello: new Set(),
    prediction: new Set(),
    event: new Set(),
    status: new Set(),
    spectrogram: new Set(),
    error: new Set(),
    pong: new Set(),
    open: new Set(),
    close: new Set(),
    reconnecting: new Set(),
  };
  private readonly reconnect: Required<ReconnectOptions> | undefined;
  private attempt = 0;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  /** The newest event id seen; undefined until there is a place to resume from (live-only first connection). */
  private lastId: number | undefined;
  private sid: string | undefined;
  private helloMsg: HelloMessage | undefined;
  /** The open connection has had its hello (a later one means the server's model changed). */
  private greeted = false;
  private pings = new Map<string, (rttMs: number) => void>();
  private pingSeq = 0;
  private firstHello: { resolve: (h: HelloMessage) => void; reject: (e: Error) => void; promise: Promise<HelloMessage> };
  private lastFatal: SoundeeClientError | undefined;

  constructor(private readonly options: ClientOptions) {
    this.filter = options.filter ?? {};
    this.lastId = options.since;
    this.sid = options.serverId;
    this.reconnect =
      options.reconnect === false
        ? undefined
        : { ...DEFAULT_RECONNECT, ...(options.reconnect === true || options.reconnect === undefined ? {} : options.reconnect) };
    let resolve!: (h: HelloMessage) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<HelloMessage>((a, b) => {
      resolve = a;
      reject = b;
    });
    promise.catch(() => {}); // observed through `ready`
    this.firstHello = { resolve, reject, promise };
    void this.open();
  }

  /** Resolves with the first hello; rejects if the first connection fails for good (e.g. a wrong token). */
  get ready(): Promise<HelloMessage> {
    return this.firstHello.promise;
  }

  /** The newest event id received (pass it as `since` to resume elsewhere). */
  get lastEventId(): number {
    return this.lastId ?? 0;
  }

  /** The server process the event ids belong to. */
  get serverId(): string | undefined {
    return this.sid;
  }

  /** The latest hello (model, classes, feature config, streams): a server that learns a class sends a new one on the open connection. */
  get hello(): HelloMessage | undefined {
    return this.helloMsg;
  }

  get connected(): boolean {
    return this.ws?.readyState === 1;
  }

  /** Adds a handler for a message type or lifecycle notification; returns a function that removes it. */
  on<K extends keyof ServerMessageMap>(type: K, handler: (m: ServerMessageMap[K]) => void): () => void;
  on<K extends keyof LifecycleMap>(type: K, handler: (e: LifecycleMap[K]) => void): () => void;
  on(type: keyof Handlers, handler: AnyHandler): () => void {
    const set = this.handlers[type] as Set<AnyHandler>;
    set.add(handler);
    return () => set.delete(handler);
  }

  /** Replaces the filter (also used for every reconnection). */
  subscribe(filter: SubscriptionFilter): void {
    this.filter = filter;
    this.sendJson({ type: 'subscribe', ...filter });
  }

  /** Round trip of an application-level ping, in ms. */
  ping(): Promise<number> {
    const id = `p${++this.pingSeq}`;
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
      if (!this.connected) return reject(new SoundeeClientError('ERR_CLOSED', 'not connected'));
      this.pings.set(id, () => resolve(performance.now() - t0));
      this.sendJson({ type: 'ping', id });
    });
  }

  /** Closes for good (no reconnection). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const ws = this.ws;
    if (!ws || ws.readyState === 3) return;
    await new Promise<void>((r) => {
      ws.once('close', () => r());
      ws.close(1000);
      setTimeout(() => ws.terminate(), 2000).unref();
    });
  }

  private emit<K extends keyof Handlers>(type: K, value: unknown): void {
    for (const h of this.handlers[type] as Set<AnyHandler>) h(value);
  }

  private sendJson(m: object): void {
    if (this.ws?.readyState === 1) this.ws.send(JSON.stringify(m));
  }

  private url(): URL {
    const f = this.filter;
    return endpointUrl(this.options.url, STREAM_PATH, {
      types: f.types?.join(','),
      streams: f.streams,
      classes: f.classes,
      // since only when resuming: a reconnection, or a first connection that asked for history
      since: this.lastId === undefined ? undefined : String(this.lastId),
      serverId: this.lastId === undefined ? undefined : this.sid,
    });
  }

  private async open(): Promise<void> {
    this.lastFatal = undefined;
    this.greeted = false;
    let ws: WebSocket;
    try {
      ws = await openSocket(this.url(), this.options, (socket) => socket.on('message', (data) => this.onMessage(data.toString())));
    } catch (e) {
      const err = e as SoundeeClientError;
      const permanent = err.details?.status !== undefined && PERMANENT_STATUSES.has(err.details.status);
      return this.lost(0, err.message, err, permanent);
    }
    if (this.closed) {
      ws.terminate();
      return;
    }
    this.ws = ws;
    ws.on('close', (code, reason) => {
      this.ws = undefined;
      const fatal = this.lastFatal;
      this.lost(code, reason.toString(), fatal, PERMANENT_CLOSE_CODES.has(code));
    });
  }

  private lost(code: number, reason: string, error: SoundeeClientError | undefined, permanent: boolean): void {
    const r = this.reconnect;
    const willReconnect = !this.closed && !permanent && r !== undefined && this.attempt < r.maxAttempts;
    if (!this.helloMsg && !willReconnect)
      this.firstHello.reject(
        error ?? new SoundeeClientError('ERR_CLOSED', `connection closed (${code}${reason ? ` ${reason}` : ''})`, { closeCode: code }),
      );
    this.emit('close', { code, reason, willReconnect, ...(error ? { error } : {}) });
    if (!willReconnect || !r) return;
    const base = Math.min(r.maxDelayMs, r.initialDelayMs * r.factor ** this.attempt);
    const delayMs = Math.round(base * (1 + r.jitter * (2 * Math.random() - 1)));
    this.attempt++;
    this.emit('reconnecting', { attempt: this.attempt, delayMs, ...(error ? { error } : {}) });
    this.timer = setTimeout(() => void this.open(), delayMs);
  }

  private onMessage(text: string): void {
    let m: ServerMessage;
    try {
      m = JSON.parse(text) as ServerMessage;
    } catch {
      return;
    }
    if (this.options.validate) {
      const v = validateServerMessage(m);
      if (!v.ok) throw new SoundeeClientError('ERR_BAD_MESSAGE', `the server sent an invalid message: ${v.reason}`);
    }
    switch (m.type) {
      case 'hello':
        if (this.greeted) {
          // the same connection, greeted again: the server switched models (a class learned or removed)
          this.helloMsg = m;
          this.emit('hello', m);
          return;
        }
        this.greeted = true;
        // a new server process numbers events from 1 again, and an id newer than the server's newest is
        // not one of its ids: the events it replays (reason server-restarted or unknown-id) are all new here
        if (this.lastId !== undefined && ((this.sid !== undefined && this.sid !== m.serverId) || this.lastId > m.lastEventId))
          this.lastId = 0;
        // live only: resume later from where this first connection began
        this.lastId ??= m.lastEventId;
        this.sid = m.serverId;
        this.helloMsg = m;
        this.attempt = 0;
        this.emit('hello', m);
        this.emit('open', m);
        this.firstHello.resolve(m);
        return;
      case 'event':
        if (this.lastId !== undefined && m.id <= this.lastId) return; // already seen (a resume overlapping what arrived live)
        this.lastId = m.id;
        this.emit('event', m as EventMessage);
        return;
      case 'status':
        this.emit('status', m);
        return;
      case 'pong': {
        const done = m.id !== undefined ? this.pings.get(String(m.id)) : undefined;
        if (done) {
          this.pings.delete(String(m.id));
          done(0);
        }
        this.emit('pong', m);
        return;
      }
      case 'error':
        if (m.fatal) this.lastFatal = new SoundeeClientError(m.code, m.message, m.streamId !== undefined ? { streamId: m.streamId } : {});
        this.emit('error', m);
        return;
      default:
        this.emit(m.type, m);
    }
  }
}

/** Connects a subscriber (see SoundeeClient). */
export function connect(options: ClientOptions): SoundeeClient {
  return new SoundeeClient(options);
}
