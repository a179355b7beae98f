/**
 * The subscriber hub: who is subscribed to what, and everything they are sent. It numbers events and
 * holds them for `since` resumes (./history.ts), keeps the latest status per stream and kind for late
 * subscribers, and delivers each published message — encoded once — through every matching
 * subscriber's bounded outbox (./outbox.ts): a slow subscriber loses predictions and spectrograms
 * (counted, then reported), never events or statuses silently.
 *
 * No sockets here: a subscriber is a `SubscriberSink` (the WebSocket connection in the server, a fake
 * in the tests), so held statuses, resumes, filters and delivery are tested without a network.
 */
import { SoundeeError } from '../config.ts';
import {
  DEFAULT_TYPES,
  type ErrorCode,
  type EventInput,
  type EventMessage,
  type Filter,
  type HelloMessage,
  type PredictionMessage,
  type ResumeStatus,
  type ServerMessage,
  type SpectrogramMessage,
  type StatusMessage,
  type SubscribeMessage,
  matchesFilter,
  validateServerMessage,
} from '../protocol/index.ts';
import { EventHistory } from './history.ts';
import { type DroppableKind, Encoded, Outbox, type OutboxOptions, type Sink } from './outbox.ts';

/** A subscriber's connection as the hub sees it: the socket side of its outbox, and a way to end it. */
export interface SubscriberSink extends Sink {
  /** Ends the connection with a fatal error (the hub's one reason: ERR_SLOW_CONSUMER). */
  fail(code: ErrorCode, message: string): void;
}

export interface HubOptions {
  /** Random per server process; clients pass it back with `since`. */
  serverId: string;
  /** Events held for `since` resumes. */
  historySize: number;
  /** Subscribers in all (ingest connections, which get their own stream's messages, are not counted). */
  maxSubscribers: number;
  maxSubscribersPerAddress: number;
  /** Statuses held for late subscribers. */
  maxHeldStatuses: number;
  outbox: OutboxOptions;
  /** Called with every event as published, with its id (e.g. to forward it to MQTT). */
  onEvent?: (event: EventMessage) => void;
}

/** How a subscriber joins. */
export interface JoinOptions {
  /** The remote address (as addressKey gives it). */
  address: string;
  filter: Filter;
  /** Replay the held events after this id first (then a resume status). */
  since?: number;
  /** The serverId `since` refers to. */
  serverId?: string;
  /**
   * An ingest connection: gets its own stream's messages, but neither held statuses nor a place in
   * the subscriber limits (the ingest endpoint has its own).
   */
  ingest?: boolean;
}

/** One subscriber: its filter, its outbox, and the events it has had. */
export class Subscriber {
  filter: Filter;
  readonly outbox: Outbox;
  /** Ids of events sent to this subscriber (a replay never repeats one). */
  readonly sentEvents = new Set<number>();
  /** Set once removed: nothing more is delivered. */
  removed = false;

  constructor(
    readonly address: string,
    readonly sink: SubscriberSink,
    filter: Filter,
    readonly ingest: boolean,
    outbox: OutboxOptions,
  ) {
    this.filter = filter;
    const maxQueued = outbox.maxQueued;
    this.outbox = new Outbox(
      sink,
      outbox,
      (dropped) => Encoded.of({ type: 'status', kind: 'drops', dropped: { ...dropped }, total: dropped.prediction + dropped.spectrogram }),
      () =>
        sink.fail(
          'ERR_SLOW_CONSUMER',
          `this client fell too far behind (more than ${maxQueued ?? 'the allowed number of'} events and statuses waiting); reconnect with since=<last event id> to get the missed events`,
        ),
    );
  }

  /** Sends a message meant for this subscriber alone (a pong, a non-fatal error, a resume status), in order with the rest. */
  send(message: object): void {
    if (!this.removed) this.outbox.push(Encoded.of(message));
  }
}

/** A refusal of a new subscriber. */
export interface HubRefusal {
  code: 'ERR_TOO_MANY_CONNECTIONS';
  message: string;
}

export class SubscriberHub {
  readonly history: EventHistory;
  private readonly subscribers = new Set<Subscriber>();
  private readonly perAddress = new Map<string, number>();
  /** The latest status per (streamId, kind), in publishing order (see holdStatus). */
  private readonly heldStatuses = new Map<string, StatusMessage>();

  constructor(private readonly o: HubOptions) {
    this.history = new EventHistory(o.historySize);
  }

  /** Subscribers now (ingest connections included). */
  get size(): number {
    return this.subscribers.size;
  }

  /** Subscribers counted against the limits (ingest connections left out), in all or from one address. */
  subscriberCount(address?: string): number {
    if (address !== undefined) return this.perAddress.get(address) ?? 0;
    let n = 0;
    for (const c of this.perAddress.values()) n += c;
    return n;
  }

  get lastEventId(): number {
    return this.history.lastEventId;
  }

  /** Whether a new subscriber from `address` is within the limits; the refusal when not. */
  admit(address: string): HubRefusal | undefined {
    const { maxSubscribers, maxSubscribersPerAddress } = this.o;
    if (this.subscriberCount() >= maxSubscribers)
      return { code: 'ERR_TOO_MANY_CONNECTIONS', message: `the server has ${maxSubscribers} subscribers, its limit; try again later` };
    if (this.subscriberCount(address) >= maxSubscribersPerAddress)
      return {
        code: 'ERR_TOO_MANY_CONNECTIONS',
        message: `this address has ${maxSubscribersPerAddress} subscriber connections open, the limit per address`,
      };
    return undefined;
  }

  /**
   * Adds a subscriber whose hello has been sent: it gets the held statuses that pass its filter, then
   * (with `since`) the events it missed and a resume status, then everything live.
   */
  add(sink: SubscriberSink, j: JoinOptions): Subscriber {
    const sub = new Subscriber(j.address, sink, j.filter, j.ingest === true, this.o.outbox);
    this.subscribers.add(sub);
    if (!sub.ingest) {
      this.perAddress.set(j.address, this.subscriberCount(j.address) + 1);
      // the current state (a recorder's latest report, open streams) for a client that connects late
      for (const m of this.heldStatuses.values()) if (matchesFilter(sub.filter, m)) this.deliver(sub, m, Encoded.of(m));
    }
    if (j.since !== undefined) this.replay(sub, j.since, j.serverId);
    return sub;
  }

  /** Removes a subscriber (its connection is closing or closed); idempotent. */
  remove(sub: Subscriber): void {
    if (sub.removed) return;
    sub.removed = true;
    this.subscribers.delete(sub);
    if (sub.ingest) return;
    const n = this.subscriberCount(sub.address) - 1;
    if (n > 0) this.perAddress.set(sub.address, n);
    else this.perAddress.delete(sub.address);
  }

  /** Applies a subscribe message: the new filter, then the replay it asks for. */
  subscribe(sub: Subscriber, m: SubscribeMessage): void {
    sub.filter = {
      types: m.types ?? DEFAULT_TYPES,
      ...(m.streams ? { streams: m.streams } : {}),
      ...(m.classes ? { classes: m.classes } : {}),
    };
    if (m.since !== undefined) this.replay(sub, m.since, m.serverId);
  }

  /** Whether anyone takes messages of `type` for `streamId` (spectrograms are only rendered for someone). */
  wants(type: 'spectrogram' | 'prediction', streamId: string): boolean {
    const probe = { type, streamId };
    for (const s of this.subscribers) if (matchesFilter(s.filter, probe)) return true;
    return false;
  }

  /**
   * Numbers an event (a publisher's own `type` and `id` are ignored), holds it and delivers it.
   * @throws SoundeeError ERR_PROTOCOL when it does not match the event schema (no id is used up).
   */
  publishEvent(e: EventInput): EventMessage {
    const { type: _t, id: _id, ...input } = e as EventInput & { type?: unknown; id?: unknown };
    // validated before it is appended, so that a bad event does not use up an id
    check({ ...input, type: 'event', id: this.history.lastEventId + 1 });
    const m = this.history.append(input);
    this.broadcast(m);
    this.o.onEvent?.(m);
    return m;
  }

  /**
   * Delivers a status and holds it for late subscribers; `kind` defaults to 'recorder' (the live
   * microphone's reports are published as they are).
   * @throws SoundeeError ERR_PROTOCOL when it does not match the status schema.
   */
  publishStatus(s: { kind?: string } & Record<string, unknown>): StatusMessage {
    const m = check({ type: 'status', ...s, kind: s.kind ?? 'recorder' } as StatusMessage);
    m.type = 'status';
    this.holdStatus(m);
    this.broadcast(m);
    return m;
  }

  /**
   * Delivers a prediction (droppable for slow subscribers).
   * @throws SoundeeError ERR_PROTOCOL when it does not match the prediction schema.
   */
  publishPrediction(m: PredictionMessage): PredictionMessage {
    this.broadcast(check(m), 'prediction');
    return m;
  }

  /**
   * Delivers a spectrogram message (droppable for slow subscribers).
   * @throws SoundeeError ERR_PROTOCOL when it does not match the spectrogram schema.
   */
  publishSpectrogram(m: SpectrogramMessage): SpectrogramMessage {
    this.broadcast(check(m), 'spectrogram');
    return m;
  }

  /**
   * Sends a new hello to every connection, subscribers and ingest connections alike, in order with
   * what they were sent before (the server's model changed: its classes are not those of the hello
   * they got when they connected).
   * @throws SoundeeError ERR_PROTOCOL when it does not match the hello schema.
   */
  broadcastHello(m: HelloMessage): void {
    const encoded = Encoded.of(check(m));
    for (const s of this.subscribers) s.outbox.push(encoded);
  }

  /** Ends every subscriber's connection (shutdown) through `end`, and forgets them. */
  closeAll(end: (sub: Subscriber) => void): void {
    for (const s of [...this.subscribers]) {
      this.remove(s);
      end(s);
    }
  }

  /** Encodes once, then hands the bytes to every subscriber whose filter matches. */
  private broadcast(m: ServerMessage, droppable?: DroppableKind): void {
    let encoded: Encoded | undefined;
    for (const s of this.subscribers) if (matchesFilter(s.filter, m)) this.deliver(s, m, (encoded ??= Encoded.of(m)), droppable);
  }

  private deliver(sub: Subscriber, m: ServerMessage, encoded: Encoded, droppable?: DroppableKind): void {
    if (m.type === 'event') {
      sub.sentEvents.add(m.id);
      if (sub.sentEvents.size > 2 * this.history.capacity)
        for (const id of sub.sentEvents) if (id < this.history.oldestId) sub.sentEvents.delete(id);
    }
    sub.outbox.push(encoded, droppable);
  }

  /**
   * Keeps the latest status per (streamId, kind), for subscribers that connect later (a recorder's
   * state, an open stream): at most maxHeldStatuses, the oldest dropped first. A stream's statuses
   * are forgotten when it ends or fails, as it then leaves hello's `streams`.
   */
  private holdStatus(m: StatusMessage): void {
    const { kind, streamId, state } = m as { kind: string; streamId?: string; state?: unknown };
    if (kind === 'drops' || kind === 'resume') return; // answers to one connection
    if (kind === 'stream' && (state === 'ended' || state === 'failed')) {
      for (const [key, held] of this.heldStatuses) if ((held as { streamId?: string }).streamId === streamId) this.heldStatuses.delete(key);
      return;
    }
    const key = JSON.stringify([streamId ?? null, kind]);
    this.heldStatuses.delete(key); // re-added last: the map stays in publishing order
    this.heldStatuses.set(key, m);
    if (this.heldStatuses.size > this.o.maxHeldStatuses) this.heldStatuses.delete(this.heldStatuses.keys().next().value!);
  }

  /**
   * Sends the held events after `since` this subscriber has not had, then the resume status. A
   * `since` from another server process (its serverId differs) or newer than any event here (an id
   * this server never gave) cannot be resumed from: every held event is sent, and the status says why.
   */
  private replay(sub: Subscriber, since: number, claimedServerId?: string): void {
    const restarted = claimedServerId !== undefined && claimedServerId !== this.o.serverId;
    const unknown = !restarted && since > this.history.lastEventId;
    const { events, lost } = this.history.since(restarted || unknown ? 0 : since);
    let replayed = 0;
    for (const e of events) {
      if (sub.sentEvents.has(e.id) || !matchesFilter(sub.filter, e)) continue;
      this.deliver(sub, e, Encoded.of(e));
      replayed++;
    }
    const status: ResumeStatus = {
      type: 'status',
      kind: 'resume',
      since,
      replayed,
      complete: !restarted && !unknown && !lost,
      lastEventId: this.history.lastEventId,
    };
    if (restarted) status.reason = 'server-restarted';
    else if (unknown) status.reason = 'unknown-id';
    else if (lost) Object.assign(status, { reason: 'history-expired', lostFromId: lost.fromId, lostToId: lost.toId });
    // the answer to a request: sent whatever the filter says
    sub.send(status);
  }
}

/** Returns the message when it matches its schema. @throws SoundeeError ERR_PROTOCOL. */
function check<T extends object>(m: T): T {
  const v = validateServerMessage(m);
  if (!v.ok) throw new SoundeeError('ERR_PROTOCOL', `cannot publish an invalid message: ${v.reason}`);
  return m;
}
