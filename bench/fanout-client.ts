/**
 * Many WebSocket subscribers in a process of their own (so that the load generator does not share
 * the server's event loop), for the fan-out benchmark in bench/pipeline.ts. Over IPC:
 *
 *  - `{ cmd: 'open', url, n }` → opens n subscribers on url (200 handshakes at a time), answers
 *    `{ opened, failed }` once each has its hello (or failed);
 *  - `{ cmd: 'collect' }` → `{ latenciesMs, received, closedEarly, cpuMs }`: for every event every
 *    subscriber got, now − its `startMs` (the server child puts the publish time there, wall-clock ms),
 *    and this process's CPU time since the previous collect;
 *  - `{ cmd: 'close' }` → closes them all, answers `{ closed }`.
 *
 * `--client raw` (the default) speaks WebSocket over plain sockets with a minimal frame parser, and
 * reads an event's `startMs` without parsing the rest of its JSON; `--client ws` uses the `ws`
 * library's client and JSON.parse. The load generator shares the machine's two cores with the server:
 * with `ws` it costs as much CPU per message as the server's fan-out does, and its own delay would be
 * measured as the server's. Both speak the protocol fully (pongs included) and time the same thing.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import WebSocket from 'ws';
import { wallMs } from './lib.ts';

export type FanoutRequest = { cmd: 'open'; url: string; n: number } | { cmd: 'collect' } | { cmd: 'close' };

const mode = process.argv.includes('--client') ? process.argv[process.argv.indexOf('--client') + 1] : 'raw';
if (mode !== 'raw' && mode !== 'ws') throw new Error(`--client must be raw or ws, got ${mode}`);

const clients: { close(): Promise<void> }[] = [];
let latencies: number[] = [];
let received = 0;
let closedEarly = 0;
let closing = false;
let cpuAt = process.cpuUsage();

const EVENT_PREFIX = Buffer.from('{"type":"event"');
const START_MS = Buffer.from('"startMs":');

/** An event's latency from its bytes: startMs is the publish time (the server child puts it there). */
function onText(payload: Buffer): void {
  if (payload.compare(EVENT_PREFIX, 0, EVENT_PREFIX.length, 0, EVENT_PREFIX.length) !== 0) return;
  const at = payload.indexOf(START_MS);
  if (at < 0) return;
  const from = at + START_MS.length;
  let to = from;
  while (to < payload.length && payload[to] !== 0x2c && payload[to] !== 0x7d) to++; // up to ',' or '}'
  latencies.push(wallMs() - Number(payload.toString('latin1', from, to)));
  received++;
}

/** A subscriber with ws's client. */
function openWs(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    let hello = false;
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      if (!hello) {
        hello = true;
        clients.push({
          close: () => new Promise<void>((r) => (ws.readyState === WebSocket.CLOSED ? r() : (ws.once('close', () => r()), ws.terminate()))),
        });
        return resolve(true);
      }
      if (text.startsWith('{"type":"event"')) {
        const m = JSON.parse(text) as { startMs: number };
        latencies.push(wallMs() - m.startMs);
        received++;
      }
    });
    ws.on('error', () => {
      if (!hello) resolve(false);
    });
    ws.on('close', () => {
      if (!hello) resolve(false);
      else if (!closing) closedEarly++;
    });
  });
}

/** A subscriber over a plain socket: the handshake, then unmasked server frames parsed by hand. */
function openRaw(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect(Number(u.port), u.hostname);
    s.setNoDelay(true);
    let buf: Buffer = Buffer.alloc(0);
    let upgraded = false;
    let hello = false;
    const fail = () => {
      if (!hello) resolve(false);
      else if (!closing) closedEarly++;
    };
    s.on('error', () => {});
    s.on('close', fail);
    s.on('connect', () =>
      s.write(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
    s.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!buf.toString('latin1', 0, 12).startsWith('HTTP/1.1 101')) return s.destroy();
        upgraded = true;
        buf = buf.subarray(end + 4);
      }
      // frames: FIN+opcode, then a 7-bit length (126: 16-bit follows, 127: 64-bit follows); servers do not mask
      while (buf.length >= 2) {
        const opcode = buf[0]! & 0x0f;
        let len = buf[1]! & 0x7f;
        let head = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          head = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          head = 10;
        }
        if (buf.length < head + len) return;
        const payload = buf.subarray(head, head + len);
        buf = buf.subarray(head + len);
        if (opcode === 0x9) {
          // ping → pong, masked with a zero key (clients must mask)
          const pong = Buffer.alloc(6 + payload.length);
          pong[0] = 0x8a;
          pong[1] = 0x80 | payload.length;
          payload.copy(pong, 6);
          s.write(pong);
        } else if (opcode === 0x8) {
          s.destroy();
          return;
        } else if (opcode === 0x1) {
          if (!hello) {
            hello = true;
            clients.push({
              close: () => new Promise<void>((r) => (s.destroyed ? r() : (s.once('close', () => r()), s.destroy()))),
            });
            resolve(true);
          } else onText(payload);
        }
      }
    });
  });
}

process.on('message', async (req: FanoutRequest) => {
  if (req.cmd === 'open') {
    let opened = 0;
    let failed = 0;
    for (let k = 0; k < req.n; k += 200) {
      const got = await Promise.all(Array.from({ length: Math.min(200, req.n - k) }, () => (mode === 'raw' ? openRaw : openWs)(req.url)));
      for (const ok of got) ok ? opened++ : failed++;
    }
    process.send?.({ opened, failed });
  } else if (req.cmd === 'collect') {
    const cpu = process.cpuUsage(cpuAt);
    cpuAt = process.cpuUsage();
    process.send?.({ latenciesMs: latencies, received, closedEarly, cpuMs: (cpu.user + cpu.system) / 1000 });
    latencies = [];
    received = 0;
  } else if (req.cmd === 'close') {
    closing = true;
    const all = clients.splice(0);
    await Promise.all(all.map((c) => c.close()));
    closing = false;
    closedEarly = 0;
    process.send?.({ closed: all.length });
  }
});
process.on('disconnect', () => process.exit(0));
process.send?.({ ready: true });
