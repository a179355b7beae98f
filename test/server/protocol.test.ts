import { framesPerHop, framesPerWindow, resolveFeatureConfig } from '../../src/config.ts';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { EventHistory } from '../../src/server/history.ts';
import { Encoded, Outbox } from '../../src/server/outbox.ts';
import { type Filter, matchesFilter, validateClientMessage, validateServerMessage } from '../../src/protocol/index.ts';
import { TokenBucket } from '../../src/util/token-bucket.ts';
import { ALL_SCHEMAS, SCHEMA_ID_PREFIX } from '../../src/protocol/index.ts';
import { REPO_ROOT, noise } from '../helpers/fixtures.ts';
import { encodePcm } from '../../src/audio/pcm.ts';
import { type TestModel, opened, probe, testServer, tinyModel, until } from './helpers.ts';

const ev = (label: string, phase: 'start' | 'end' = 'start') => ({
  streamId: 's',
  label,
  phase,
  startMs: 0,
  ...(phase === 'end' ? { endMs: 2000 } : {}),
  peakConfidence: 0.9,
  meanConfidence: 0.7,
});

describe('pure parts', () => {
  test('the event history numbers events from 1 and answers since, naming what it no longer holds', () => {
    const h = new EventHistory(3);
    assert.deepEqual(h.since(0), { events: [] });
    const ids = ['a', 'b', 'c', 'd', 'e'].map((l) => h.append({ ...ev(l), id: 99, type: 'nope' } as never).id);
    assert.deepEqual(ids, [1, 2, 3, 4, 5], "ids are the history's own");
    assert.equal(h.lastEventId, 5);
    assert.equal(h.oldestId, 3);
    assert.deepEqual(
      h.since(3).events.map((e) => e.label),
      ['d', 'e'],
    );
    assert.equal(h.since(3).lost, undefined);
    const r = h.since(0);
    assert.deepEqual(
      r.events.map((e) => e.id),
      [3, 4, 5],
    );
    assert.deepEqual(r.lost, { fromId: 1, toId: 2 });
    assert.deepEqual(h.since(5), { events: [] });
    assert.deepEqual(h.since(9), { events: [] });
    assert.throws(() => new EventHistory(0), RangeError);
  });

  test('the token bucket allows bursts, then the sustained rate', () => {
    let now = 0;
    const b = new TokenBucket(10, 3, () => now);
    assert.deepEqual([b.take(), b.take(), b.take(), b.take()], [true, true, true, false]);
    now += 100; // one token back
    assert.deepEqual([b.take(), b.take()], [true, false]);
  });

  test('filters: types, streams and classes; hello, error and pong always pass', () => {
    const f: Filter = { types: ['prediction', 'event'], streams: ['a'], classes: ['hum'] };
    assert.ok(matchesFilter(f, { type: 'prediction', streamId: 'a', label: 'hum' }));
    assert.ok(!matchesFilter(f, { type: 'prediction', streamId: 'b', label: 'hum' }));
    assert.ok(!matchesFilter(f, { type: 'event', streamId: 'a', label: 'hiss' }));
    assert.ok(!matchesFilter(f, { type: 'status', streamId: 'a' }));
    for (const type of ['hello', 'error', 'pong']) assert.ok(matchesFilter(f, { type }));
    assert.ok(matchesFilter({ types: ['status'] }, { type: 'status' }), 'statuses without a stream pass a stream filter-less subscription');
  });

  test('the outbox drops predictions for a backed-up client, queues events, reports drops once caught up, and gives up on overflow', () => {
    const sent: string[] = [];
    const callbacks: (() => void)[] = [];
    const sink = { bufferedAmount: 0, send: (m: Encoded, cb: () => void) => (sent.push(m.text), callbacks.push(cb)) };
    const text = (t: string) => new Encoded(Buffer.from(t));
    let overflowed = 0;
    const box = new Outbox(
      sink,
      { maxBufferedBytes: 100, maxQueued: 2 },
      (d) => text(`drops:${d.prediction}`),
      () => overflowed++,
    );
    box.push(text('p1'), 'prediction');
    sink.bufferedAmount = 500; // the socket backs up
    box.push(text('p2'), 'prediction');
    box.push(text('e1'));
    box.push(text('p3'), 'prediction');
    assert.deepEqual(sent, ['p1']);
    assert.equal(box.dropped.prediction, 2);
    assert.equal(box.queued, 1);
    sink.bufferedAmount = 0; // drained: the write callback pumps the queue, then the drop report
    callbacks.shift()!();
    assert.deepEqual(sent, ['p1', 'e1', 'drops:2']);
    sink.bufferedAmount = 500;
    box.push(text('e2'));
    box.push(text('e3'));
    assert.equal(overflowed, 0);
    box.push(text('e4'));
    assert.equal(overflowed, 1, 'a third queued event overflows a queue of 2');
    box.push(text('e5'));
    assert.equal(box.queued, 0, 'nothing is queued after giving up');
  });

  test('client messages are checked strictly', () => {
    assert.ok(validateClientMessage({ type: 'subscribe', streams: ['a'], classes: ['hum'], types: ['event'], since: 3, serverId: 'x' }).ok);
    assert.ok(validateClientMessage({ type: 'ping', id: 7 }).ok);
    assert.ok(validateClientMessage({ type: 'end' }).ok);
    const bad = [
      [{ type: 'subscribe', tpyes: ['event'] }, /tpyes/],
      [{ type: 'subscribe', types: ['hello'] }, /types\.0/],
      [{ type: 'subscribe', since: -1 }, /since/],
      [{ type: 'launch' }, /unknown client message type "launch"/],
      [[1, 2], /JSON object/],
      ['subscribe', /JSON object/],
    ] as const;
    for (const [m, why] of bad) {
      const v = validateClientMessage(m);
      assert.equal(v.ok, false);
      assert.match((v as { reason: string }).reason, why);
    }
  });
});

describe('docs/protocol.md', () => {
  let doc: string;
  before(async () => (doc = await readFile(join(REPO_ROOT, 'docs/protocol.md'), 'utf8')));
  const blocks = () => [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!) as Record<string, unknown>);

  test('shows every schema exactly as the code has it', () => {
    const inDoc = new Map(
      blocks()
        .filter((b) => typeof b.$id === 'string' && b.$id.startsWith(SCHEMA_ID_PREFIX))
        .map((b) => [b.$id, b]),
    );
    for (const s of ALL_SCHEMAS) {
      assert.ok(inDoc.has(s.$id), `${s.$id} is in the doc`);
      assert.deepEqual(
        inDoc.get(s.$id),
        JSON.parse(JSON.stringify(s)),
        `${s.$id} in the doc matches src/protocol/schemas.ts (npm run docs:protocol rewrites the doc)`,
      );
    }
    assert.equal(inDoc.size, ALL_SCHEMAS.length, 'no stale schemas in the doc');
  });

  test('every example message in it is valid', () => {
    const examples = blocks().filter((b) => !('$schema' in b) && typeof b.type === 'string');
    assert.ok(examples.length >= 10, `examples found: ${examples.length}`);
    for (const e of examples) {
      const v = ['subscribe', 'ping', 'end'].includes(e.type as string) ? validateClientMessage(e) : validateServerMessage(e);
      assert.ok(v.ok, `${JSON.stringify(e)}: ${(v as { reason?: string }).reason}`);
    }
  });
});

describe('a live server', () => {
  let model: TestModel;
  before(async () => (model = await tinyModel()));
  after(() => model.dispose());

  test('every message a server sends matches its schema; client messages are validated, errors are not fatal', async () => {
    const server = await testServer(model);
    try {
      const c = probe(`${server.url}/v1/stream?types=prediction,event,status,spectrogram&since=0`);
      await c.next((m) => m.type === 'status' && m.kind === 'resume');
      // an ingest stream produces predictions, spectrogram columns and stream statuses
      const ing = probe(`${server.url}/v1/ingest?streamId=mic-1&sampleRateHz=16000&format=s16le`);
      await c.next((m) => m.type === 'status' && m.kind === 'stream' && m.state === 'started');
      ing.ws.send(encodePcm(noise(1.5), 's16le'));
      ing.ws.send(JSON.stringify({ type: 'ping', id: 'i1' }));
      ing.ws.send(JSON.stringify({ type: 'end' }));
      await c.next((m) => m.type === 'status' && m.kind === 'stream' && m.state === 'ended');
      assert.equal((await ing.closed).code, 1000);
      assert.ok(ing.messages.some((m) => m.type === 'pong' && m.id === 'i1'));
      // what the listen command publishes: events and recorder statuses (kind filled in), and rounded predictions
      const e1 = server.publish({ type: 'event', ...ev('hum'), startTime: new Date().toISOString() });
      const e2 = server.publish({ type: 'event', ...ev('hum', 'end'), id: 1234 });
      assert.deepEqual([(e1 as { id: number }).id, (e2 as { id: number }).id], [1, 2]);
      server.publish({
        type: 'status',
        streamId: 'mic',
        state: 'restarting',
        level: 'warning',
        message: 'recorder exited; restarting in 1 s',
        attempt: 1,
      });
      server.publish({
        type: 'prediction',
        streamId: 'mic',
        index: 0,
        startMs: 0,
        endMs: 1000,
        label: 'unknown',
        confidence: 0.4,
        scores: { hum: 0.4 },
        rmsDb: -Infinity,
      });
      c.ws.send(JSON.stringify({ type: 'ping', id: 5 }));
      c.ws.send('not json');
      c.ws.send(JSON.stringify({ type: 'subscribe', types: ['everything'] }));
      c.ws.send(JSON.stringify({ type: 'end' }));
      c.ws.send('null');
      c.ws.send(JSON.stringify({ type: 'ping', id: 6 }));
      await c.next((m) => m.type === 'pong' && m.id === 6);

      const types = new Set(c.messages.map((m) => m.type));
      for (const t of ['hello', 'prediction', 'event', 'status', 'spectrogram', 'error', 'pong']) assert.ok(types.has(t), `got a ${t}`);
      for (const m of [...c.messages, ...ing.messages]) {
        const v = validateServerMessage(m);
        assert.ok(v.ok, `${JSON.stringify(m).slice(0, 200)}: ${(v as { reason?: string }).reason}`);
      }
      const errors = c.ofType('error');
      assert.deepEqual(
        errors.map((e) => [e.code, e.fatal]),
        Array(4).fill(['ERR_BAD_MESSAGE', false]),
      );
      assert.match(String(errors[1]!.message), /types\.0 must be equal to one of the allowed values/);
      assert.equal(c.ofType('status').find((s) => s.kind === 'recorder')?.state, 'restarting');
      assert.equal(c.ofType('prediction').at(-1)?.rmsDb, null, 'digital silence goes out as null');
      const spec = c.ofType('spectrogram');
      // 1.5 s of audio: 3 windows (0, 250, 500 ms)
      const c0 = resolveFeatureConfig();
      assert.deepEqual(
        spec.map((s) => (s.columns as { width: number }).width),
        [framesPerWindow(c0), framesPerHop(c0), framesPerHop(c0)],
        'window 0 brings every column, later windows one hop of them',
      );
      assert.equal(Buffer.from((spec[0]!.input as { data: string }).data, 'base64').length, 32 * 32 * 3);
      c.ws.close();
      await c.closed;
    } finally {
      await server.close();
    }
  });

  test('publishing an invalid message throws ERR_PROTOCOL and uses up no event id', async () => {
    const server = await testServer(model);
    try {
      assert.throws(() => server.publish({ type: 'event', ...ev('hum'), phase: 'end' }), { code: 'ERR_PROTOCOL', message: /endMs/ });
      assert.throws(() => server.publish({ type: 'event', ...ev('hum'), colour: 'red' }), { code: 'ERR_PROTOCOL', message: /colour/ });
      assert.throws(() => server.publish({ type: 'hello' }), { code: 'ERR_PROTOCOL' });
      assert.throws(() => server.publish({ type: 'prediction', streamId: 's' }), { code: 'ERR_PROTOCOL' });
      assert.equal(server.lastEventId, 0);
      assert.equal(server.publishEvent(ev('hum')).id, 1);
    } finally {
      await server.close();
    }
  });

  test('/v1/info is the hello', async () => {
    const server = await testServer(model);
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/v1/info`);
      assert.equal(res.status, 200);
      const hello = (await res.json()) as Record<string, unknown>;
      assert.ok(validateServerMessage(hello).ok);
      assert.deepEqual(hello.classes, ['hum', 'hiss', 'tick']);
      assert.equal(hello.serverId, server.serverId);
    } finally {
      await server.close();
    }
  });

  test('subscriptions filter by stream, class and type', async () => {
    const server = await testServer(model);
    try {
      const all = probe(`${server.url}/v1/stream`);
      const some = probe(`${server.url}/v1/stream?streams=a&classes=hum&types=event`);
      const later = probe(`${server.url}/v1/stream`);
      await Promise.all([all, some, later].map((p) => p.next((m) => m.type === 'hello')));
      later.ws.send(JSON.stringify({ type: 'subscribe', streams: ['b'], types: ['prediction'] }));
      const pred = (streamId: string, label: string) => ({
        type: 'prediction',
        streamId,
        index: 0,
        startMs: 0,
        endMs: 1000,
        label,
        confidence: 0.5,
        scores: { [label]: 0.5 },
        rmsDb: -20,
      });
      // a ping round trip makes sure the subscribe was applied before publishing
      later.ws.send(JSON.stringify({ type: 'ping', id: 1 }));
      await later.next((m) => m.type === 'pong');
      server.publish(pred('a', 'hum'));
      server.publish(pred('b', 'hum'));
      server.publishEvent({ ...ev('hum'), streamId: 'a' });
      server.publishEvent({ ...ev('hiss'), streamId: 'a' });
      server.publishEvent({ ...ev('hum'), streamId: 'b' });
      server.publishStatus({ kind: 'stream', streamId: 'a', state: 'started', source: 'test' });
      // a pong comes after everything published before it on the same connection
      await Promise.all(
        [all, some, later].map((p) => {
          p.ws.send(JSON.stringify({ type: 'ping', id: 'last' }));
          return p.next((m) => m.type === 'pong' && m.id === 'last');
        }),
      );
      const summary = (p: typeof all) =>
        p.messages.filter((m) => m.type !== 'hello' && m.type !== 'pong').map((m) => `${m.type}:${m.streamId}:${m.label ?? ''}`);
      assert.deepEqual(summary(all), ['prediction:a:hum', 'prediction:b:hum', 'event:a:hum', 'event:a:hiss', 'event:b:hum', 'status:a:']);
      assert.deepEqual(summary(some), ['event:a:hum']);
      assert.deepEqual(summary(later), ['prediction:b:hum']);
      for (const p of [all, some, later]) p.ws.close();
    } finally {
      await server.close();
    }
  });

  test('heartbeats terminate a connection that stops answering pings; live ones stay', async () => {
    const server = await testServer(model, { heartbeatMillis: 100 });
    try {
      const dead = probe(`${server.url}/v1/stream`, { autoPong: false });
      const live = probe(`${server.url}/v1/stream`);
      await Promise.all([opened(dead.ws), opened(live.ws)]);
      const t0 = Date.now();
      const { code } = await dead.closed;
      assert.equal(code, 1006, 'terminated without a close frame');
      assert.ok(Date.now() - t0 < 2000);
      await until(() => server.clientCount === 1, 2000, 'the server to drop the dead client');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(live.ws.readyState, 1, 'the live client is still connected after several heartbeats');
      assert.equal(server.clientCount, 1);
      live.ws.close();
    } finally {
      await server.close();
    }
  });
});
