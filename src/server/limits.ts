/**
 * The server's defaults and limits, in one place: `startServer` fills what its caller leaves out from
 * `DEFAULT_SERVER_OPTIONS`, and the command line (`soundee serve --help`) shows and uses the same
 * values. Limits per address are applied to the remote address as the socket reports it (IPv6
 * addresses per /64, the block one machine usually holds): behind a reverse proxy every client has the
 * proxy's address, so raise them there.
 */
import { DEFAULT_OUTBOX_OPTIONS } from './outbox.ts';

/** The limits a server enforces; every one can be set on the command line. */
export interface ServerLimits {
  /** Events held for `since` resumes. */
  historySize: number;
  /** TCP connections in all: WebSockets, page loads, and sockets that have not finished their request yet. */
  maxConnections: number;
  /** TCP connections per remote address, counted before any authentication. */
  maxConnectionsPerAddress: number;
  /** `/v1/stream` subscribers in all. */
  maxSubscribers: number;
  /** `/v1/stream` subscribers per remote address. */
  maxSubscribersPerAddress: number;
  /** Open `/v1/ingest` streams in all. */
  maxStreams: number;
  /** Open `/v1/ingest` streams per remote address. */
  maxStreamsPerAddress: number;
  /**
   * Time a socket has to deliver a complete HTTP request or WebSocket handshake, from connecting (or
   * from its previous response, on a kept-alive connection); then it is closed.
   */
  handshakeTimeoutMillis: number;
}

/** Every default of `ServerOptions` (the limits, the address, the per-message limits, the outbox). */
export const DEFAULT_SERVER_OPTIONS = Object.freeze({
  /** Local only: anything else exposes the server to the network. */
  host: '127.0.0.1',
  port: 8080,
  historySize: 1000,
  maxConnections: 1024,
  maxConnectionsPerAddress: 128,
  maxSubscribers: 256,
  maxSubscribersPerAddress: 64,
  maxStreams: 16,
  maxStreamsPerAddress: 4,
  handshakeTimeoutMillis: 5000,
  /** WebSocket ping interval; a client that has not answered the previous ping is terminated. */
  heartbeatMillis: 30_000,
  /** Largest text message a client may send, in bytes. */
  maxMessageBytes: 16 * 1024,
  /** Largest binary ingest frame, in bytes (1.3 s of 48 kHz f32le). */
  maxFrameBytes: 256 * 1024,
  /** Text messages per second per connection (bursts of twice that). */
  maxMessagesPerSecond: 20,
  /** Binary frames per second per ingest connection (bursts of twice that). */
  maxFramesPerSecond: 500,
  /** Windows in flight per ingest stream before the server stops reading from its client. */
  maxBacklogWindows: 64,
  /** Statuses held for late subscribers (the latest per stream and kind). */
  maxHeldStatuses: 256,
  /** A close handshake the peer does not answer within this is cut. */
  closeTimeoutMillis: 5000,
  /** On shutdown, clients get this long to take the shutdown notice before they are cut. */
  shutdownGraceMillis: 1000,
  /** Teaching (POST /v1/learn, /v1/clip, DELETE /v1/classes/<label>): what a request may hold. */
  teach: Object.freeze({
    /** Fewest example clips a class is learned from (learnClass's own minimum). */
    minExamples: 3,
    /** Most example clips in one request. */
    maxExamples: 20,
    /** Most negative clips ("your room") in one request. */
    maxNegatives: 10,
    /** Shortest part of a clip kept, ms. */
    minClipMs: 200,
    /** Longest clip, ms. */
    maxClipMs: 30_000,
    /** Largest POST /v1/learn body (JSON, the clips in base64: 20 clips of 10 s at 48 kHz, 16-bit, are 26 MB). */
    maxBodyBytes: 32 * 1024 * 1024,
    /** Largest POST /v1/clip body (one WAV file: 30 s of 48 kHz float mono is 5.8 MB). */
    maxClipBytes: 8 * 1024 * 1024,
    /** Requests that send data (POST, DELETE) per second per address (bursts of twice that). */
    maxRequestsPerSecond: 5,
  }),
  outbox: DEFAULT_OUTBOX_OPTIONS,
} as const);

/** The names of the limits, as `ServerLimits` lists them (the command line has one option per name). */
export const LIMIT_NAMES = [
  'historySize',
  'maxConnections',
  'maxConnectionsPerAddress',
  'maxSubscribers',
  'maxSubscribersPerAddress',
  'maxStreams',
  'maxStreamsPerAddress',
  'handshakeTimeoutMillis',
] as const satisfies readonly (keyof ServerLimits)[];

/** Ranges the limits must be in (integers). */
export const LIMIT_RANGES: Readonly<Record<keyof ServerLimits, { min: number; max: number }>> = {
  historySize: { min: 1, max: 1_000_000 },
  maxConnections: { min: 1, max: 1_000_000 },
  maxConnectionsPerAddress: { min: 1, max: 1_000_000 },
  maxSubscribers: { min: 0, max: 1_000_000 },
  maxSubscribersPerAddress: { min: 0, max: 1_000_000 },
  maxStreams: { min: 0, max: 100_000 },
  maxStreamsPerAddress: { min: 0, max: 100_000 },
  handshakeTimeoutMillis: { min: 100, max: 600_000 },
};

/**
 * The limits with defaults filled in, checked.
 * @throws RangeError when one is not an integer in its range (LIMIT_RANGES).
 */
export function resolveLimits(partial: Partial<ServerLimits> = {}): ServerLimits {
  const out = {} as ServerLimits;
  for (const name of LIMIT_NAMES) {
    const v = partial[name] ?? DEFAULT_SERVER_OPTIONS[name];
    const { min, max } = LIMIT_RANGES[name];
    if (!(Number.isInteger(v) && v >= min && v <= max)) throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${v}`);
    out[name] = v;
  }
  return out;
}
