import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import {
  type EventMessage,
  type LifecycleMap,
  type PredictionMessage,
  SoundeeClientError,
  type StatusMessage,
  connect,
  validateServerMessage,
} from '../../src/client/index.ts';
import { IngestConnection, ingestPcm, ingestSamples, ingestWav } from '../../src/client/ingest.ts';
import { encodePcm } from '../../src/audio/pcm.ts';
import { REPO_ROOT, noise } from '../helpers/fixtures.ts';
import { type TestModel, dropProxy, testServer, tinyModel, until } from '../server/helpers.ts';

let model: TestModel;
before(async () => (model = await tinyModel()));
after(() => model.dispose());

const event = (i: number, label = 'hum', streamId = 's') => ({
  streamId,
  label,
  phase: 'start' as const,
  startMs: i * 1000,
  peakConfidence: 0.9,
  meanConfidence: 0.8,
});

test('typed handlers, filters, and ping', async () => {
  const server = await testServer(model);
  const client = connect({ url: server.url, filter: { types: ['event', 'status'], classes: ['hum'] }, validate: true });
  try {
    const hello = await client.ready;
    assert.deepEqual(hello.classes, ['hum', 'hiss', 'tick']);
    assert.equal(client.serverId, server.serverId);
    const events: EventMessage[] = [];
    const predictions: PredictionMessage[] = [];
    const errors: unknown[] = [];
    client.on('error', (e) => errors.push(e));
    client.on('event', (e) => events.push(e)); // e is typed: e.label, e.phase, e.id
    client.on('prediction', (p) => predictions.push(p));
    server.publishEvent(event(1, 'hum'));
    server.publishEvent(event(2, 'hiss'));
    server.publish({
      type: 'prediction',
      streamId: 's',
      index: 0,
      startMs: 0,
      endMs: 1000,
      label: 'hum',
      confidence: 0.9,
      scores: { hum: 0.9 },
      rmsDb: -10,
    });
    assert.ok((await client.ping()) >= 0);
    assert.deepEqual(
      events.map((e) => [e.id, e.label]),
      [[1, 'hum']],
    );
    assert.equal(predictions.length, 0, 'predictions were not asked for');
    client.subscribe({ types: ['prediction'], streams: ['t'] });
    await client.ping();
    server.publish({
      type: 'prediction',
      streamId: 's',
      index: 1,
      startMs: 250,
      endMs: 1250,
      label: 'hum',
      confidence: 0.9,
      scores: { hum: 0.9 },
      rmsDb: -10,
    });
    server.publish({
      type: 'prediction',
      streamId: 't',
      index: 0,
      startMs: 0,
      endMs: 1000,
      label: 'tick',
      confidence: 0.9,
      scores: { tick: 0.9 },
      rmsDb: -10,
    });
    await client.ping();
    assert.deepEqual(
      predictions.map((p) => p.streamId),
      ['t'],
    );
    assert.equal(client.lastEventId, 1);
    assert.deepEqual(errors, [], 'the server accepted every message the client sent (subscribe, ping)');
  } finally {
    await client.close();
    await server.close();
  }
});

test('after a network drop the client reconnects with growing back-off and resumes: every missed event exactly once', async () => {
  const server = await testServer(model);
  const proxy = await dropProxy(server.port);
  const client = connect({
    url: `ws://127.0.0.1:${proxy.port}`,
    reconnect: { initialDelayMs: 40, factor: 2, jitter: 0, maxDelayMs: 1000 },
    validate: true,
  });
  const events: number[] = [];
  const statuses: StatusMessage[] = [];
  const reconnecting: LifecycleMap['reconnecting'][] = [];
  const closes: LifecycleMap['close'][] = [];
  client.on('event', (e) => events.push(e.id));
  client.on('status', (s) => statuses.push(s));
  client.on('reconnecting', (r) => reconnecting.push(r));
  client.on('close', (c) => closes.push(c));
  try {
    await client.ready;
    server.publishEvent(event(1));
    server.publishEvent(event(2));
    await until(() => events.length === 2);

    proxy.refusing = true; // the network is down: every attempt fails for a while
    proxy.cut();
    await until(() => reconnecting.length >= 4, 5000, 'several reconnection attempts');
    assert.deepEqual(
      reconnecting.slice(0, 4).map((r) => r.delayMs),
      [40, 80, 160, 320],
      'exponential back-off',
    );
    assert.ok(closes.every((c) => c.willReconnect));
    for (let i = 3; i <= 5; i++) server.publishEvent(event(i)); // published while the client is away

    proxy.refusing = false;
    await until(() => events.length === 5, 5000, 'the missed events');
    assert.deepEqual(events, [1, 2, 3, 4, 5]);
    const resume = statuses.filter((s) => s.kind === 'resume');
    assert.deepEqual(resume.at(-1), { type: 'status', kind: 'resume', since: 2, replayed: 3, complete: true, lastEventId: 5 });
    server.publishEvent(event(6));
    await until(() => events.length === 6);
    assert.equal(client.lastEventId, 6);
  } finally {
    await client.close();
    await proxy.close();
    await server.close();
  }
});

test('the client is told when events are gone: history expired, or the server restarted', async () => {
  let server = await testServer(model, { historySize: 3 });
  const port = server.port;
  const proxy = await dropProxy(port);
  const client = connect({ url: `ws://127.0.0.1:${proxy.port}`, reconnect: { initialDelayMs: 30, jitter: 0 } });
  const statuses: StatusMessage[] = [];
  const events: string[] = [];
  client.on('status', (s) => statuses.push(s));
  client.on('event', (e) => events.push(`${e.id}:${e.label}`));
  try {
    await client.ready;
    server.publishEvent(event(1, 'a'));
    await until(() => events.length === 1);
    proxy.refusing = true;
    proxy.cut();
    for (let i = 2; i <= 8; i++) server.publishEvent(event(i, 'b'));
    proxy.refusing = false;
    await until(() => statuses.some((s) => s.kind === 'resume' && !s.complete), 5000);
    assert.deepEqual(
      statuses.find((s) => s.kind === 'resume' && !s.complete),
      {
        type: 'status',
        kind: 'resume',
        since: 1,
        replayed: 3,
        complete: false,
        reason: 'history-expired',
        lostFromId: 2,
        lostToId: 5,
        lastEventId: 8,
      },
    );
    assert.deepEqual(events, ['1:a', '6:b', '7:b', '8:b']);

    // a new server process on the same port: ids start again, and the client says so
    await server.close();
    server = await testServer(model, { port });
    server.publishEvent(event(1, 'c'));
    await until(() => statuses.some((s) => s.kind === 'resume' && s.reason === 'server-restarted'), 5000);
    await until(() => events.length === 5);
    assert.deepEqual(events.at(-1), '1:c');
    assert.equal(client.serverId, server.serverId);
  } finally {
    await client.close();
    await proxy.close();
    await server.close();
  }
});

test('a wrong token fails for good: ready rejects with ERR_UNAUTHORIZED and no reconnection', async () => {
  const server = await testServer(model, { token: 'right' });
  try {
    const client = connect({ url: server.url, token: 'wrong' });
    const closes: LifecycleMap['close'][] = [];
    client.on('close', (c) => closes.push(c));
    await assert.rejects(
      client.ready,
      (e: unknown) => e instanceof SoundeeClientError && e.code === 'ERR_UNAUTHORIZED' && e.details.status === 401,
    );
    assert.equal(closes[0]?.willReconnect, false);
    await client.close();
    const good = connect({ url: `http://127.0.0.1:${server.port}/`, token: 'right' });
    assert.equal((await good.ready).type, 'hello');
    await good.close();
  } finally {
    await server.close();
  }
});

test("ingestWav streams a real recording and resolves with its summary; realtime pacing takes the audio's own time", async () => {
  const server = await testServer(model);
  try {
    const preds: PredictionMessage[] = [];
    const summary = await ingestWav(join(REPO_ROOT, 'samples/speech.wav'), { url: server.url, onPrediction: (p) => preds.push(p) });
    assert.deepEqual(summary, { streamId: 'speech.wav', windows: 9, predictions: 9, events: 0 });
    assert.ok(preds.every((p) => validateServerMessage(p).ok && p.streamId === 'speech.wav'));

    const t0 = performance.now();
    const rt = await ingestSamples(noise(1.5), 16000, { url: server.url, streamId: 'live', pace: 'realtime', chunkMillis: 100 });
    const took = performance.now() - t0;
    assert.equal(rt.windows, 3);
    assert.ok(took >= 1400, `real time: ${took.toFixed(0)} ms for 1.5 s`);
  } finally {
    await server.close();
  }
});

test('ingestPcm takes a byte stream split anywhere (samples carried over) and reports server errors as typed errors', async () => {
  const server = await testServer(model, { token: 't' });
  try {
    const bytes = encodePcm(noise(2, 44100), 'f32le');
    const odd = function* () {
      for (let off = 0; off < bytes.length; off += 333) yield bytes.subarray(off, off + 333); // 333 is not a multiple of 4
    };
    const summary = await ingestPcm(Readable.from(odd()), {
      url: server.url,
      token: 't',
      streamId: 'pipe',
      sampleRateHz: 44100,
      format: 'f32le',
    });
    assert.ok(summary.windows >= 4 && summary.windows <= 5, `${summary.windows} windows`);

    await assert.rejects(
      IngestConnection.open({ url: server.url, token: 't', streamId: 'x', sampleRateHz: 12345, format: 's16le' }),
      (e: unknown) => {
        assert.ok(e instanceof SoundeeClientError);
        assert.equal(e.code, 'ERR_UNSUPPORTED_RATE');
        assert.equal(e.details.closeCode, 1003);
        return true;
      },
    );
    await assert.rejects(IngestConnection.open({ url: server.url, streamId: 'x', sampleRateHz: 16000, format: 's16le' }), {
      code: 'ERR_UNAUTHORIZED',
    });

    // a stream the server ends with an error: the next write or end() throws it
    const conn = await IngestConnection.open({ url: server.url, token: 't', streamId: 'y', sampleRateHz: 16000, format: 's16le' });
    (conn as unknown as { ws: { send(d: string): void } }).ws.send('not audio');
    await assert.rejects(
      (async () => {
        for (;;) {
          await conn.write(new Uint8Array(320));
          await new Promise((r) => setTimeout(r, 10));
        }
      })(),
      { code: 'ERR_EXPECTED_BINARY' },
    );
  } finally {
    await server.close();
  }
});

test('the first connection is live only unless history is asked for; a since this server never gave is unknown-id, and its events are not dropped', async () => {
  const server = await testServer(model);
  const clients: ReturnType<typeof connect>[] = [];
  const open = (o: Partial<Parameters<typeof connect>[0]> = {}) => {
    const c = connect({ url: server.url, reconnect: false, ...o });
    clients.push(c);
    const seen = { events: [] as number[], statuses: [] as StatusMessage[] };
    c.on('event', (e) => seen.events.push(e.id));
    c.on('status', (s) => seen.statuses.push(s));
    return { c, seen };
  };
  try {
    for (let i = 1; i <= 5; i++) server.publishEvent(event(i));
    const live = open();
    const history = open({ since: 3 });
    const stranger = open({ since: 50 }); // an id from another server process, without its serverId
    await Promise.all(clients.map((c) => c.ready));
    await Promise.all(clients.map((c) => c.ping()));
    assert.deepEqual(live.seen.events, [], 'no history unless asked for');
    assert.deepEqual(live.seen.statuses, [], 'and no resume status');
    assert.equal(live.c.lastEventId, 5, 'it would resume from where it began');
    assert.deepEqual(history.seen.events, [4, 5]);
    assert.deepEqual(stranger.seen.events, [1, 2, 3, 4, 5], 'every held event, none dropped as already seen');
    const unknown = stranger.seen.statuses.find((s) => s.kind === 'resume');
    assert.deepEqual(unknown, {
      type: 'status',
      kind: 'resume',
      since: 50,
      replayed: 5,
      complete: false,
      reason: 'unknown-id',
      lastEventId: 5,
    });
    assert.equal(stranger.c.lastEventId, 5);
    server.publishEvent(event(6));
    await until(() => clients.every((c) => c.lastEventId === 6), 5000, 'the live event everywhere');
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
  }
});
