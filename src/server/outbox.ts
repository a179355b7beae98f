/**
 * A per-client bounded send queue. A client whose socket is backed up (more than `maxBufferedBytes`
 * waiting) is slow: its predictions and spectrogram columns are dropped and counted, while events,
 * statuses and errors wait in a queue of at most `maxQueued` messages. When that queue overflows,
 * `onOverflow` is called (the server closes the connection so that the client reconnects and
 * resumes with `since`): an event is never lost silently. Publishing never waits on a client.
 */

/**
 * A message encoded once (its JSON as UTF-8 bytes) for every client it goes to. `frame` is where a
 * transport keeps its own framing of `data`, made by the first client that sends it and reused by the
 * others (see ./frames.ts): a broadcast is encoded and framed once, whatever the number of clients.
 */
export class Encoded {
  frame: Buffer | undefined;
  constructor(readonly data: Buffer) {}

  /** Encodes a message. */
  static of(message: object): Encoded {
    return new Encoded(Buffer.from(JSON.stringify(message)));
  }

  /** The message as JSON text. */
  get text(): string {
    return this.data.toString();
  }
}

/** What the outbox writes to (a WebSocket connection sending text frames, or a test's fake). */
export interface Sink {
  /** Bytes accepted by send() but not yet handed to the operating system. */
  readonly bufferedAmount: number;
  /** Sends one text message; `cb` runs once it has been handed to the socket. */
  send(message: Encoded, cb: (err?: Error) => void): void;
}

/** Messages that may be dropped for a slow client. */
export type DroppableKind = 'prediction' | 'spectrogram';

export interface OutboxOptions {
  /** Socket backlog above which the client counts as slow, in bytes. Default 256 KiB. */
  maxBufferedBytes?: number;
  /** Reliable messages queued for a slow client before it is given up on. Default 1000. */
  maxQueued?: number;
}

export const DEFAULT_OUTBOX_OPTIONS: Readonly<Required<OutboxOptions>> = Object.freeze({ maxBufferedBytes: 256 * 1024, maxQueued: 1000 });

export class Outbox {
  /** Messages dropped since the connection opened, by kind. */
  readonly dropped: Record<DroppableKind, number> = { prediction: 0, spectrogram: 0 };
  private readonly queue: Encoded[] = [];
  private unreported = false;
  private overflowed = false;
  private readonly maxBufferedBytes: number;
  private readonly maxQueued: number;
  private readonly sent = (err?: Error) => {
    if (!err) this.pump();
  };

  constructor(
    private readonly sink: Sink,
    options: OutboxOptions,
    /** Builds the status message that reports the drop counts (sent when the client catches up). */
    private readonly dropsMessage: (dropped: Record<DroppableKind, number>) => Encoded,
    private readonly onOverflow: () => void,
  ) {
    this.maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_OUTBOX_OPTIONS.maxBufferedBytes;
    this.maxQueued = options.maxQueued ?? DEFAULT_OUTBOX_OPTIONS.maxQueued;
  }

  /** Whether the client is behind (its socket is backed up or reliable messages are waiting). */
  get congested(): boolean {
    return this.queue.length > 0 || this.sink.bufferedAmount > this.maxBufferedBytes;
  }

  /** Reliable messages waiting. */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * Sends `message` now, or (when the client is behind) drops it if `droppable` names its kind, else queues it.
   */
  push(message: Encoded, droppable?: DroppableKind): void {
    if (this.overflowed) return;
    if (!this.congested) return this.sink.send(message, this.sent);
    if (droppable) {
      this.dropped[droppable]++;
      this.unreported = true;
      return;
    }
    this.queue.push(message);
    if (this.queue.length > this.maxQueued) {
      this.overflowed = true;
      this.queue.length = 0;
      this.onOverflow();
    }
  }

  /** Sends queued messages while the socket takes them; then reports drops once caught up. */
  private pump(): void {
    while (this.queue.length && this.sink.bufferedAmount <= this.maxBufferedBytes) this.sink.send(this.queue.shift()!, this.sent);
    if (this.unreported && !this.congested) {
      this.unreported = false;
      this.sink.send(this.dropsMessage(this.dropped), this.sent);
    }
  }
}
