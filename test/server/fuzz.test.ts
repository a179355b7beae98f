/**
 * Fuzzing what clients send: the client-message validator, text messages to /v1/stream and
 * /v1/ingest, ingest handshake parameters, and binary PCM frames (a fixed number of seeded cases).
 * Only clear answers come back — a verdict with a reason, an `error` message with a documented code
 * and, when fatal, the documented close code — and the server stays up for everyone else.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { ERROR_CODES, type ErrorCode, validateClientMessage } from '../../src/protocol/index.ts';
import { Random } from '../../src/util/random.ts';
import { type TestModel, handshakeStatus, opened, probe, testServer, tinyModel } from './helpers.ts';

let model: TestModel;
before(async () => {
  model = await tinyModel();
});
after(() => model.dispose());

/** A random JSON value, nested up to `depth`. */
function randomValue(rng: Random, depth = 3): unknown {
  const k = rng.int(depth > 0 ? 9 : 6);
  const strings = [
    '',
    'subscribe',
    'ping',
    'end',
    'event',
    'prediction',
    'status',
    'spectrogram',
    'x'.repeat(300),
    '\u0000',
    '☃',
    '__proto__',
    'constructor',
  ];
  switch (k) {
    case 0:
      return null;
    case 1:
      return rng.next() < 0.5;
    case 2:
      return [0, -1, 1.5, 1e308, -1e308, 2 ** 53, NaN][rng.int(7)];
    case 3:
    case 4:
      return strings[rng.int(strings.length)];
    case 5:
      return rng.int(1000);
    case 6:
      return Array.from({ length: rng.int(5) }, () => randomValue(rng, depth - 1));
    default: {
      const keys = ['type', 'streams', 'classes', 'types', 'since', 'serverId', 'id', 'extra', '__proto__'];
      const o: Record<string, unknown> = {};
      for (let i = rng.int(5); i > 0; i--) o[keys[rng.int(keys.length)]!] = randomValue(rng, depth - 1);
      if (rng.next() < 0.6) o.type = ['subscribe', 'ping', 'end', 'hello', 'nope'][rng.int(5)];
      return o;
    }
  }
}

const VALID = [
  { type: 'subscribe', streams: ['a'], classes: ['hum'], types: ['event', 'prediction'], since: 3, serverId: 'abc' },
  { type: 'ping', id: 7 },
  { type: 'ping', id: 'x' },
  { type: 'end' },
  { type: 'subscribe' },
];

/** A valid message with one field changed, added or removed. */
function mutate(rng: Random): unknown {
  const m = structuredClone(VALID[rng.int(VALID.length)]!) as Record<string, unknown>;
  const keys = Object.keys(m);
  const op = rng.int(3);
  if (op === 0) m[keys[rng.int(keys.length)]!] = randomValue(rng, 2);
  else if (op === 1) m[['extra', 'types', 'since', 'id', 'streams'][rng.int(5)]!] = randomValue(rng, 2);
  else delete m[keys[rng.int(keys.length)]!];
  return m;
}

/** Random text: JSON of random and mutated values, or broken JSON. */
function randomText(rng: Random): string {
  const r = rng.int(4);
  if (r === 0) return JSON.stringify(randomValue(rng)) ?? 'null';
  if (r === 1) return JSON.stringify(mutate(rng));
  if (r === 2) {
    const s = JSON.stringify(mutate(rng));
    return s.slice(0, rng.int(s.length + 1));
  }
  return Array.from({ length: rng.int(40) }, () => String.fromCharCode(rng.int(0x3000))).join('');
}

test('the validator answers every value with a verdict, never an exception', () => {
  const rng = new Random(7001);
  let ok = 0;
  for (let i = 0; i < 3000; i++) {
    const v = i % 2 ? randomValue(rng) : mutate(rng);
    const verdict = validateClientMessage(v);
    if (verdict.ok) ok++;
    else
      assert.ok(typeof verdict.reason === 'string' && verdict.reason.length > 0 && !verdict.reason.includes('\n'), JSON.stringify(verdict));
  }
  assert.ok(ok > 0 && ok < 3000, `${ok} of 3000 accepted`);
});

/** Collects what a connection gets until it closes or goes quiet. */
async function session(
  url: string,
  send: (ws: WebSocket) => void,
  quietMs = 300,
): Promise<{ messages: Record<string, unknown>[]; close?: { code: number; reason: string } }> {
  const ws = new WebSocket(url);
  const messages: Record<string, unknown>[] = [];
  let close: { code: number; reason: string } | undefined;
  let last = Date.now();
  ws.on('message', (d, isBinary) => {
    last = Date.now();
    if (!isBinary) messages.push(JSON.parse(d.toString()) as Record<string, unknown>);
  });
  ws.on('error', () => {});
  const closed = new Promise<void>((r) => ws.on('close', (code, reason) => ((close = { code, reason: reason.toString() }), r())));
  await opened(ws);
  send(ws);
  const t0 = Date.now();
  while (!close && Date.now() - last < quietMs && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
  if (!close) {
    ws.terminate();
    await closed;
    close = undefined;
  }
  return { messages, ...(close ? { close } : {}) };
}

/** Every error is documented, and a fatal one is followed by its close code. */
function assertClear(r: Awaited<ReturnType<typeof session>>, what: string): void {
  const errors = r.messages.filter((m) => m.type === 'error');
  for (const e of errors) {
    assert.ok(Object.hasOwn(ERROR_CODES, e.code as string), `${what}: undocumented code ${String(e.code)}`);
    assert.equal(typeof e.message, 'string');
    assert.ok(!(e.message as string).includes('    at '), `${what}: a stack trace leaked`);
  }
  if (r.close && r.close.code !== 1000 && r.close.code !== 1005) {
    const fatal = errors.find((e) => e.fatal);
    if (fatal) assert.equal(r.close.code, ERROR_CODES[fatal.code as ErrorCode].close, `${what}: close code of ${String(fatal.code)}`);
    else assert.equal(r.close.code, 1009, `${what}: closed (${r.close.code} ${r.close.reason}) without an error message`);
  }
}

test('random and mutated text on /v1/stream and /v1/ingest: documented errors only; the server stays up', async () => {
  const server = await testServer(model, { maxMessagesPerSecond: 100_000, maxStreams: 64, maxStreamsPerAddress: 64 });
  const rng = new Random(7002);
  try {
    const watcher = probe(`${server.url}/v1/stream`);
    await watcher.next((m) => m.type === 'hello');
    for (let c = 0; c < 24; c++) {
      const ingest = c % 2 === 1;
      const url = ingest ? `${server.url}/v1/ingest?streamId=fuzz-${c}&sampleRateHz=16000&format=s16le` : `${server.url}/v1/stream`;
      const texts = Array.from({ length: 20 }, () => randomText(rng));
      const r = await session(url, (ws) =>
        texts.forEach((t) => {
          ws.send(t);
        }),
      );
      assertClear(r, `connection ${c} (${ingest ? 'ingest' : 'stream'})`);
      assert.equal(r.messages[0]?.type, 'hello');
    }
    assert.equal(watcher.ws.readyState, WebSocket.OPEN, 'a bystander stays connected');
    const later = probe(`${server.url}/v1/stream`);
    await later.next((m) => m.type === 'hello');
    later.ws.close();
    watcher.ws.close();
  } finally {
    await server.close();
  }
  assert.deepEqual(server.logs, [], 'no internal errors were logged');
});

test('random ingest handshakes and random binary frames: documented refusals, no internal errors', async () => {
  const server = await testServer(model, { maxStreams: 64, maxStreamsPerAddress: 64 });
  const rng = new Random(7003);
  try {
    const pick = <T>(xs: readonly T[]) => xs[rng.int(xs.length)]!;
    for (let i = 0; i < 30; i++) {
      const q = new URLSearchParams();
      if (rng.next() < 0.9) q.set('streamId', pick(['a', '', 'x'.repeat(129), '\u0001', `h${i}`, '☃']));
      if (rng.next() < 0.9) q.set('sampleRateHz', pick(['16000', '0', '-1', '1e4', '44100', '16000.5', 'abc', '99999999999']));
      if (rng.next() < 0.9) q.set('format', pick(['s16le', 'f32le', 'S16LE', 'u8', '']));
      const r = await session(`${server.url}/v1/ingest?${q}`, () => {}, 150);
      assertClear(r, `handshake ${q}`);
    }
    for (let i = 0; i < 16; i++) {
      const format = i % 2 ? 'f32le' : 's16le';
      const frames = Array.from({ length: 10 }, () => {
        const bytes = new Uint8Array(rng.int(4) === 0 ? rng.int(7) : 2 * rng.int(4000));
        for (let k = 0; k < bytes.length; k++) bytes[k] = rng.int(256); // f32le: NaN, Inf and huge values included
        return bytes;
      });
      const r = await session(
        `${server.url}/v1/ingest?streamId=bin-${i}&sampleRateHz=16000&format=${format}`,
        (ws) => {
          frames.forEach((f) => {
            ws.send(f);
          });
          ws.send(JSON.stringify({ type: 'end' }));
        },
        500,
      );
      assertClear(r, `binary frames ${i} (${format})`);
      const fatal = r.messages.find((m) => m.type === 'error' && m.fatal);
      if (fatal) assert.equal(fatal.code, 'ERR_PCM_ALIGNMENT', 'misaligned frames are the only fatal problem of random audio');
      for (const p of r.messages.filter((m) => m.type === 'prediction'))
        assert.ok(Number.isFinite(p.confidence), 'NaN samples never reach a prediction');
    }
    assert.equal((await handshakeStatus(`${server.url}/v1/nope`)).status, 404);
    assert.deepEqual(server.ingestStreams, []);
  } finally {
    await server.close();
  }
  assert.deepEqual(server.logs, [], 'no internal errors were logged');
});
