/**
 * Who gets a TCP connection, decided when it is accepted, before any byte of it is read (so before
 * any authentication): at most `maxConnections` in all and `maxConnectionsPerAddress` per remote
 * address. A connection that is only waiting — it has not finished a request yet, or a kept-alive one
 * sits between requests — is *idle*, and idle connections never lock anyone out: when a limit is
 * reached, the oldest idle connection (of that address, or anywhere for the global limit) is closed to
 * make room. Only connections that are doing something (a WebSocket, a request being answered) count
 * against a newcomer. A real client sends its request at once and stops being idle within a round
 * trip; a socket held open with nothing sent is closed by the deadline (see HttpFront) or evicted.
 *
 * Pure bookkeeping over anything with `destroy()`: the HTTP front feeds it sockets, the tests fakes.
 */
import { isIP } from 'node:net';

/** What the gate can close. */
export interface Closable {
  destroy(): void;
}

/**
 * The address a limit applies to: IPv4 as is (IPv4-mapped IPv6 unwrapped), IPv6 by its /64 prefix
 * (one machine or one home usually holds a whole /64, so counting single IPv6 addresses would let it
 * open limit × 2^64 connections).
 */
export function addressKey(remote: string | undefined): string {
  if (!remote) return 'unknown';
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(remote);
  if (mapped) return mapped[1]!;
  const bare = remote.split('%')[0]!.toLowerCase(); // without a zone (fe80::1%eth0)
  if (isIP(bare) !== 6) return remote;
  const prefix = expandIPv6(bare)
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''));
  return `${prefix.join(':')}::/64`;
}

/** The eight groups of an IPv6 address (`::` filled with zeros; an embedded IPv4 tail counts as two). */
function expandIPv6(a: string): string[] {
  const [head = '', tail] = a.split('::', 2);
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = (g: string[]) => g.reduce((n, x) => n + (x.includes('.') ? 2 : 1), 0);
  const zeros = tail === undefined ? 0 : 8 - groups(h) - groups(t);
  return [...h, ...Array<string>(Math.max(0, zeros)).fill('0'), ...t];
}

/** Why a connection was turned away. */
export interface Refusal {
  scope: 'server' | 'address';
  limit: number;
}

interface Entry {
  readonly key: string;
  idle: boolean;
}

export class ConnectionGate<S extends Closable = Closable> {
  private readonly entries = new Map<S, Entry>();
  private readonly perAddress = new Map<string, number>();
  /** Idle connections, oldest first (Map keeps insertion order; re-marking idle moves one to the end). */
  private readonly idle = new Map<S, string>();
  private readonly idleByAddress = new Map<string, Set<S>>();
  /** Connections closed to make room, since the gate was made. */
  evicted = 0;
  /** Connections refused, since the gate was made. */
  refused = 0;

  constructor(
    private readonly maxConnections: number,
    private readonly maxPerAddress: number,
  ) {}

  /** Connections being tracked. */
  get size(): number {
    return this.entries.size;
  }

  /** Connections from an address (as addressKey gives it). */
  countFor(key: string): number {
    return this.perAddress.get(key) ?? 0;
  }

  /** Idle connections now. */
  get idleCount(): number {
    return this.idle.size;
  }

  /**
   * Admits a new connection (idle until `busy()`), closing the oldest idle ones when a limit is
   * reached; or refuses it when the connections in the way are all busy.
   */
  admit(conn: S, key: string): Refusal | undefined {
    if (this.countFor(key) >= this.maxPerAddress && !this.evictOldest(this.idleByAddress.get(key)?.values().next().value))
      return this.refuse('address', this.maxPerAddress);
    if (this.entries.size >= this.maxConnections && !this.evictOldest(this.idle.keys().next().value))
      return this.refuse('server', this.maxConnections);
    this.entries.set(conn, { key, idle: false });
    this.perAddress.set(key, this.countFor(key) + 1);
    this.markIdle(conn);
    return undefined;
  }

  /** The connection is doing something (a request is being answered, or it became a WebSocket). */
  busy(conn: S): void {
    const e = this.entries.get(conn);
    if (!e?.idle) return;
    e.idle = false;
    this.idle.delete(conn);
    this.idleByAddress.get(e.key)?.delete(conn);
  }

  /** The connection waits for its next request. */
  markIdle(conn: S): void {
    const e = this.entries.get(conn);
    if (!e) return;
    e.idle = true;
    this.idle.delete(conn);
    this.idle.set(conn, e.key);
    let set = this.idleByAddress.get(e.key);
    if (!set) this.idleByAddress.set(e.key, (set = new Set()));
    set.delete(conn);
    set.add(conn);
  }

  /** The connection has closed. */
  release(conn: S): void {
    const e = this.entries.get(conn);
    if (!e) return;
    this.entries.delete(conn);
    this.idle.delete(conn);
    const set = this.idleByAddress.get(e.key);
    set?.delete(conn);
    if (set?.size === 0) this.idleByAddress.delete(e.key);
    const n = this.countFor(e.key) - 1;
    if (n > 0) this.perAddress.set(e.key, n);
    else this.perAddress.delete(e.key);
  }

  private evictOldest(victim: S | undefined): boolean {
    if (victim === undefined) return false;
    this.release(victim);
    this.evicted++;
    victim.destroy();
    return true;
  }

  private refuse(scope: Refusal['scope'], limit: number): Refusal {
    this.refused++;
    return { scope, limit };
  }
}
