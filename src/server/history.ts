/**
 * The bounded event history: every event gets the next id (1, 2, …) and the newest `capacity`
 * events are held so that a reconnecting client can ask for what it missed (`since`).
 */
import type { EventInput, EventMessage } from '../protocol/index.ts';

/** What a `since` request finds. */
export interface HistoryReplay {
  /** Held events with id > since, oldest first. */
  events: EventMessage[];
  /** Ids after `since` that are no longer held (both ends inclusive), or undefined when none were lost. */
  lost?: { fromId: number; toId: number };
}

export class EventHistory {
  private readonly ring: (EventMessage | undefined)[];
  private lastId = 0;

  /** @param capacity events held (≥ 1). */
  constructor(readonly capacity: number) {
    if (!(Number.isInteger(capacity) && capacity >= 1))
      throw new RangeError(`history capacity must be a positive integer, got ${capacity}`);
    this.ring = new Array<EventMessage | undefined>(capacity);
  }

  /** Id of the newest event (0 before the first). */
  get lastEventId(): number {
    return this.lastId;
  }

  /** Id of the oldest held event (lastEventId + 1 when none is held). */
  get oldestId(): number {
    return Math.max(1, this.lastId - this.capacity + 1);
  }

  /** Assigns the next id, stores the event and returns it (the caller has checked it against the event schema). */
  append(e: EventInput): EventMessage {
    const id = ++this.lastId;
    const msg = { type: 'event', id, ...e } as EventMessage;
    // `id` and `type` are the history's: a publisher's own values never win.
    msg.type = 'event';
    msg.id = id;
    this.ring[id % this.capacity] = msg;
    return msg;
  }

  /** The held events after `since`, and the range of those no longer held. */
  since(since: number): HistoryReplay {
    const from = Math.max(since + 1, this.oldestId);
    const events: EventMessage[] = [];
    for (let id = from; id <= this.lastId; id++) events.push(this.ring[id % this.capacity]!);
    const lost = since + 1 < from ? { fromId: since + 1, toId: from - 1 } : undefined;
    return lost ? { events, lost } : { events };
  }
}
