/**
 * A per-client bounded send queue. A client whose socket is backed up (more than `maxBufferedBytes`
 * waiting) is slow: its predictions and spectrogram columns are dropped and counted, while events,
 * statuses and errors wait in a queue of at most `maxQueued` messages. When that queue overflows,
 * `onOverflow` is called (the server closes the connection so that the client reconnects and
 * resumes with `since`): an event is never lost silently. Publishing never waits on a client.
 */

/** What the outbox writes to (a `ws` WebSocket sending text frames fits). */
export interface Sink {
  /** Bytes accepted by send() but not yet handed to the operating system. */
  readonly bufferedAmount: number;
  /** Sends one text message: a string, or its UTF-8 bytes (encoded once for many clients). */
  send(data: string | Buffer, cb: (err?: Error) => void): void;
}

/** Messages that may be dropped for a slow client. */
export type DroppableKind = 'prediction' | 'spectrogram';

export interface OutboxOptions {
  /** Socket backlog above which the client counts as slow, in bytes. Default 256 KiB. */
  maxBufferedBytes?: number;
  /** Reliable messages queued for a slow client before it is given up on. Default 1000. */
  maxQueued?: number;
}

export const DEFAULT_OUTBOX_OPTIONS: Required<OutboxOptions> = { maxBufferedBytes: 256 * 1024, maxQueued: 1000 };

export class Outbox {
  /** Messages dropped since the connection opened, by kind. */
  readonly dropped: Record<DroppableKind, number> = { prediction: 0, spectrogram: 0 };
  private readonly queue: (string | Buffer)[] = [];
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
    private readonly dropsMessage: (dropped: Record<DroppableKind, number>) => string,
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
   * Sends `data` now, or (when the client is behind) drops it if `droppable` names its kind, else queues it.
   */
  push(data: string | Buffer, droppable?: DroppableKind): void {
    if (this.overflowed) return;
    if (!this.congested) return this.sink.send(data, this.sent);
    if (droppable) {
      this.dropped[droppable]++;
      this.unreported = true;
      return;
    }
    this.queue.push(data);
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
