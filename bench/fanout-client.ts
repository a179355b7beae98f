/**
 * Many WebSocket subscribers in a process of their own (so that the load generator does not share
 * the server's event loop), for the fan-out benchmark in bench/pipeline.ts. Over IPC:
 *
 *  - `{ cmd: 'open', url, n }` → opens n subscribers on url (200 handshakes at a time), answers
 *    `{ opened, failed }` once each has its hello (or failed);
 *  - `{ cmd: 'collect' }` → `{ latenciesMs, received, closedEarly }`: for every event every subscriber
 *    got, now − its `startMs` (the server child puts the publish time there, wall-clock ms);
 *  - `{ cmd: 'close' }` → closes them all, answers `{ closed }`.
 */
import WebSocket from 'ws';
import { wallMs } from './lib.ts';

export type FanoutRequest = { cmd: 'open'; url: string; n: number } | { cmd: 'collect' } | { cmd: 'close' };

const clients: WebSocket[] = [];
let latencies: number[] = [];
let received = 0;
let closedEarly = 0;
let closing = false;

function open(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    let hello = false;
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      if (!hello) {
        hello = true;
        clients.push(ws);
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

process.on('message', async (req: FanoutRequest) => {
  if (req.cmd === 'open') {
    let opened = 0;
    let failed = 0;
    for (let k = 0; k < req.n; k += 200) {
      const got = await Promise.all(Array.from({ length: Math.min(200, req.n - k) }, () => open(req.url)));
      for (const ok of got) ok ? opened++ : failed++;
    }
    process.send?.({ opened, failed });
  } else if (req.cmd === 'collect') {
    process.send?.({ latenciesMs: latencies, received, closedEarly });
    latencies = [];
    received = 0;
  } else if (req.cmd === 'close') {
    closing = true;
    const all = clients.splice(0);
    await Promise.all(
      all.map((ws) => new Promise<void>((r) => (ws.readyState === WebSocket.CLOSED ? r() : (ws.once('close', () => r()), ws.terminate())))),
    );
    closing = false;
    closedEarly = 0;
    process.send?.({ closed: all.length });
  }
});
process.on('disconnect', () => process.exit(0));
process.send?.({ ready: true });
