/**
 * What idle connections cost a legitimate client: the time from a new TCP connection to the server's
 * hello on /v1/stream, with no other connection open and with `idle` sockets open that never send a
 * byte (spread over several loopback addresses, the way an attacker with a few machines would), on a
 * server with its default limits (no flags): idle sockets must not lock anyone out, nor slow them.
 */
import net from 'node:net';
import WebSocket from 'ws';
import { type Percentiles, type ServerHandle, percentiles } from './pipeline.ts';

export interface ConnectFigure {
  /** Connect → hello with no other connection open, ms. */
  quiet: Percentiles;
  /** The same with `idle` idle sockets open. */
  underIdle: Percentiles;
  idle: number;
  /** Idle sockets the server had closed (evicted to make room) by the end. */
  idleClosed: number;
  /** Legitimate clients that did not get their hello. */
  failed: number;
}

/** Opens `n` sockets that send nothing, from `addresses` loopback addresses in turn. */
async function idleSockets(port: number, n: number, addresses: string[]): Promise<net.Socket[]> {
  const out: net.Socket[] = [];
  for (let k = 0; k < n; k += 100)
    out.push(
      ...(await Promise.all(
        Array.from(
          { length: Math.min(100, n - k) },
          (_, i) =>
            new Promise<net.Socket>((resolve) => {
              const s = net.connect({ port, host: '127.0.0.1', localAddress: addresses[(k + i) % addresses.length] });
              s.on('error', () => {});
              s.once('connect', () => resolve(s));
              s.once('close', () => resolve(s));
            }),
        ),
      )),
    );
  return out;
}

/** One legitimate subscriber: ms from opening to its hello (undefined if it did not get one within 10 s). */
function connectOnce(url: string, localAddress: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const ws = new WebSocket(`${url}/v1/stream`, { localAddress, perMessageDeflate: false });
    const timer = setTimeout(() => done(undefined), 10_000);
    const done = (ms: number | undefined) => {
      clearTimeout(timer);
      ws.terminate();
      resolve(ms);
    };
    ws.once('message', () => done(performance.now() - t0));
    ws.on('error', () => done(undefined));
  });
}

export async function benchIdleConnect(server: ServerHandle, { idle = 1000, attempts = 30 } = {}): Promise<ConnectFigure> {
  const port = Number(new URL(server.url).port);
  const times = async (from: string[]) => {
    const ms: number[] = [];
    let failed = 0;
    for (let i = 0; i < attempts; i++) {
      const t = await connectOnce(server.url, from[i % from.length]!);
      if (t === undefined) failed++;
      else ms.push(t);
    }
    return { ms, failed };
  };
  // legitimate clients from the attackers' address and from elsewhere
  const legit = ['127.0.0.1', '127.0.0.2'];
  const quiet = await times(legit);
  const sockets = await idleSockets(
    port,
    idle,
    Array.from({ length: 10 }, (_, i) => `127.0.0.${i === 0 ? 1 : i + 10}`),
  );
  try {
    const under = await times(legit);
    return {
      quiet: percentiles(quiet.ms),
      underIdle: percentiles(under.ms),
      idle,
      idleClosed: sockets.filter((s) => s.destroyed || s.readyState !== 'open').length,
      failed: quiet.failed + under.failed,
    };
  } finally {
    for (const s of sockets) s.destroy();
  }
}
