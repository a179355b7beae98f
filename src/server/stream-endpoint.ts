/**
 * `/v1/stream`: subscribers. The endpoint reads the initial subscription from the handshake URL,
 * applies the subscriber limits, sends hello and joins the connection to the hub; then it answers
 * the connection's `subscribe` and `ping` messages.
 */
import {
  DEFAULT_TYPES,
  type Filter,
  INGEST_PATH,
  SUBSCRIBABLE_TYPES,
  type SubscribableType,
  type SubscribeMessage,
  validateClientMessage,
} from '../protocol/index.ts';
import { type Connection, NOT_JSON } from './connection.ts';
import type { SubscriberHub } from './hub.ts';

/** The initial subscription of a stream URL. */
export interface QuerySubscription {
  filter: Filter;
  since?: number;
  serverId?: string;
}

/** Reads the initial subscription from a stream URL's query (streams and classes repeat; types are comma-separated). */
export function filterFromQuery(url: URL): QuerySubscription | { error: string } {
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
  const out: QuerySubscription = { filter };
  const since = q.get('since');
  if (since !== null) {
    if (!/^\d{1,15}$/.test(since)) return { error: `since must be a non-negative integer, got ${JSON.stringify(since)}` };
    out.since = Number(since);
  }
  const serverId = q.get('serverId');
  if (serverId !== null) out.serverId = serverId;
  return out;
}

export class StreamEndpoint {
  constructor(private readonly hub: SubscriberHub) {}

  /** Takes a new `/v1/stream` connection (refusing it with a fatal error when its query is bad or a limit is reached). */
  accept(conn: Connection, url: URL, hello: () => object): void {
    const q = filterFromQuery(url);
    if ('error' in q) return conn.error('ERR_BAD_PARAMS', q.error);
    const refusal = this.hub.admit(conn.address);
    if (refusal) return conn.error(refusal.code, refusal.message);
    conn.sendNow(hello());
    const sub = this.hub.add(conn, {
      address: conn.address,
      filter: q.filter,
      ...(q.since !== undefined ? { since: q.since } : {}),
      ...(q.serverId !== undefined ? { serverId: q.serverId } : {}),
    });
    conn.subscriber = sub;
    conn.onClosing = () => this.hub.remove(sub);
    conn.ws.on('message', (data, isBinary) => {
      conn.alive = true;
      if (conn.closing) return;
      if (isBinary) return conn.error('ERR_UNEXPECTED_BINARY', `binary data is only accepted on ${INGEST_PATH}`);
      const msg = conn.readText(data);
      if (msg === undefined) return;
      if (msg === NOT_JSON) return conn.error('ERR_BAD_MESSAGE', 'not JSON: messages are JSON objects such as {"type":"subscribe"}');
      const v = validateClientMessage(msg);
      if (!v.ok) return conn.error('ERR_BAD_MESSAGE', v.reason);
      const m = msg as SubscribeMessage | { type: 'ping'; id?: string | number } | { type: 'end' };
      if (m.type === 'ping') return conn.pong(m.id);
      if (m.type === 'end') return conn.error('ERR_BAD_MESSAGE', `end is for ${INGEST_PATH} connections`);
      this.hub.subscribe(sub, m);
    });
  }
}
