/**
 * One WebSocket connection, subscriber or ingest: what every connection is held to (the text message
 * size and rate limits, heartbeats), how errors reach it (fatal ones close it with their close code,
 * the others go in order through its subscriber's outbox), and how it is closed (a close handshake
 * with a deadline). It is the hub's `SubscriberSink` for its own subscriber.
 */
import WebSocket, { type RawData } from 'ws';
import { ERROR_CODES, type ErrorCode, type ErrorMessage } from '../protocol/index.ts';
import { TokenBucket } from '../util/token-bucket.ts';
import { sendEncoded } from './frames.ts';
import type { Subscriber, SubscriberSink } from './hub.ts';
import type { Encoded } from './outbox.ts';

/** Marks text that is not JSON (distinct from any JSON value, including null). */
export const NOT_JSON = Symbol('not JSON');

export interface ConnectionLimits {
  maxMessageBytes: number;
  maxMessagesPerSecond: number;
  /** A close handshake the peer does not answer within this is cut. */
  closeTimeoutMillis: number;
}

/** The JSON of an error message (also the body of refused HTTP requests and handshakes). */
export function errorMessage(code: ErrorCode, message: string, streamId?: string): ErrorMessage {
  return { type: 'error', code, message, fatal: ERROR_CODES[code].close !== null, ...(streamId !== undefined ? { streamId } : {}) };
}

export class Connection implements SubscriberSink {
  /** Answered the last heartbeat ping (or sent something since). */
  alive = true;
  /** A fatal error was sent or a close started: nothing more is read or sent. */
  closing = false;
  /** This connection's place in the hub, once it has one. */
  subscriber: Subscriber | undefined;
  /** Called once when the connection starts closing (fatal error, end of stream) or has closed. */
  onClosing: (() => void) | undefined;
  private readonly textBucket: TokenBucket;

  constructor(
    readonly ws: WebSocket,
    readonly kind: 'subscriber' | 'ingest',
    /** The remote address as addressKey gives it. */
    readonly address: string,
    private readonly limits: ConnectionLimits,
  ) {
    this.textBucket = new TokenBucket(limits.maxMessagesPerSecond, 2 * limits.maxMessagesPerSecond);
    ws.on('pong', () => (this.alive = true));
    // ws itself answers protocol errors (e.g. a message over maxPayload: close 1009); make sure the socket goes
    ws.on('error', () => setTimeout(() => ws.terminate(), 2000).unref());
    ws.once('close', () => this.markClosing());
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  get open(): boolean {
    return !this.closing && this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends a message prepared for many clients (the hub's outbox calls this). */
  send(message: Encoded, cb: (err?: Error) => void): void {
    sendEncoded(this.ws, message, cb);
  }

  /** Sends a message straight away, ahead of the outbox (the hello, before anything else is queued). */
  sendNow(message: object): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  /**
   * Reports an error: a fatal one (its code has a close code) is sent at once and closes the
   * connection with that code; any other goes through the outbox, in order with the rest.
   */
  error(code: ErrorCode, message: string, streamId?: string): void {
    const m = errorMessage(code, message, streamId);
    if (!m.fatal) return this.subscriber?.send(m);
    if (!this.open) return;
    this.markClosing();
    this.ws.send(JSON.stringify(m));
    this.closeSoon(ERROR_CODES[code].close!, code);
  }

  /** SubscriberSink: the hub gives up on this subscriber (its event queue overflowed). */
  fail(code: ErrorCode, message: string): void {
    this.error(code, message);
  }

  /**
   * Applies the size and rate limits every text message passes (refusing it with a fatal error when
   * over), then parses it. Returns undefined when refused, NOT_JSON when it does not parse.
   */
  readText(data: RawData): unknown {
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer | ArrayBuffer).byteLength;
    if (size > this.limits.maxMessageBytes) {
      this.error('ERR_FRAME_TOO_LARGE', `a text message of ${size} bytes is over the limit of ${this.limits.maxMessageBytes}`);
      return undefined;
    }
    if (!this.textBucket.take()) {
      this.error('ERR_RATE_LIMIT', `more than ${this.limits.maxMessagesPerSecond} messages per second`);
      return undefined;
    }
    try {
      return JSON.parse(data.toString());
    } catch {
      return NOT_JSON;
    }
  }

  /** Answers an application-level ping, in order with the rest of what this connection is sent. */
  pong(id: string | number | undefined): void {
    this.subscriber?.send({ type: 'pong', ...(id !== undefined ? { id } : {}), serverTime: Date.now() });
  }

  /** Closes gracefully, and cuts the connection if the peer does not answer the close in time. */
  closeSoon(code: number, reason: string): void {
    this.markClosing();
    this.ws.close(code, reason);
    const t = setTimeout(() => this.ws.terminate(), this.limits.closeTimeoutMillis);
    t.unref();
    this.ws.once('close', () => clearTimeout(t));
  }

  /** Closes once the outbox has handed everything to the socket (waiting at most closeTimeoutMillis). */
  closeWhenFlushed(code: number, reason: string, waitedMs = 0): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if ((this.subscriber?.outbox.queued ?? 0) === 0 || waitedMs >= this.limits.closeTimeoutMillis) return this.closeSoon(code, reason);
    setTimeout(() => this.closeWhenFlushed(code, reason, waitedMs + 50), 50).unref();
  }

  private markClosing(): void {
    if (this.closing) return;
    this.closing = true;
    this.onClosing?.();
  }
}
