import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type TestModel, probe, sleep, testServer, tinyModel, until } from './helpers.ts';

let model: TestModel;
before(async () => (model = await tinyModel()));
after(() => model.dispose());

const event = (i: number) => ({
  streamId: 's',
  label: `e${i}`,
  phase: 'start' as const,
  startMs: i * 1000,
  peakConfidence: 0.9,
  meanConfidence: 0.8,
});

/** A prediction of about 2 KB (many classes), so that a few thousand fill the kernel's socket buffers. */
const CLASSES = Array.from({ length: 60 }, (_, i) => `class-number-${i}`);
const bigPrediction = (index: number) => ({
  type: 'prediction',
  streamId: 's',
  index,
  startMs: index * 250,
  endMs: index * 250 + 1000,
  label: 'unknown',
  confidence: 0.1,
  scores: Object.fromEntries(CLASSES.map((c) => [c, 0.0167])),
  rmsDb: -30,
});

test('reconnecting with since gets exactly the missed events, then a complete resume status', async () => {
  const server = await testServer(model);
  try {
    const c1 = probe(`${server.url}/v1/stream`);
    const hello = await c1.next((m) => m.type === 'hello');
    for (let i = 1; i <= 3; i++) server.publishEvent(event(i));
    await c1.next((m) => m.type === 'event' && m.id === 3);
    c1.ws.close();
    await c1.closed;
    for (let i = 4; i <= 6; i++) server.publishEvent(event(i));

    const c2 = probe(`${server.url}/v1/stream?since=3&serverId=${hello.serverId}`);
    const resume = await c2.next((m) => m.type === 'status' && m.kind === 'resume');
    assert.deepEqual(resume, { type: 'status', kind: 'resume', since: 3, replayed: 3, complete: true, lastEventId: 6 });
    assert.deepEqual(
      c2.ofType('event').map((e) => e.id),
      [4, 5, 6],
    );
    assert.deepEqual(
      c2.messages.map((m) => m.type),
      ['hello', 'event', 'event', 'event', 'status'],
      'the replay comes before anything live',
    );

    // a subscribe with since on an open connection never repeats what this connection already had
    server.publishEvent(event(7));
    await c2.next((m) => m.type === 'event' && m.id === 7);
    c2.ws.send(JSON.stringify({ type: 'subscribe', since: 0, serverId: hello.serverId }));
    const again = await c2.next((m) => m.type === 'status' && m.kind === 'resume' && m.since === 0);
    assert.equal(again.replayed, 3);
    assert.deepEqual(
      c2.ofType('event').map((e) => e.id),
      [4, 5, 6, 7, 1, 2, 3],
    );
    c2.ws.close();
  } finally {
    await server.close();
  }
});

test('events the history no longer holds are named explicitly; so is a restarted server', async () => {
  const server = await testServer(model, { historySize: 5 });
  try {
    for (let i = 1; i <= 12; i++) server.publishEvent(event(i));
    const c = probe(`${server.url}/v1/stream?since=3&serverId=${server.serverId}`);
    const resume = await c.next((m) => m.type === 'status' && m.kind === 'resume');
    assert.deepEqual(
      c.ofType('event').map((e) => e.id),
      [8, 9, 10, 11, 12],
    );
    assert.deepEqual(resume, {
      type: 'status',
      kind: 'resume',
      since: 3,
      replayed: 5,
      complete: false,
      reason: 'history-expired',
      lostFromId: 4,
      lostToId: 7,
      lastEventId: 12,
    });
    c.ws.close();

    const other = probe(`${server.url}/v1/stream?since=30&serverId=a-previous-server`);
    const restarted = await other.next((m) => m.type === 'status' && m.kind === 'resume');
    assert.equal(restarted.complete, false);
    assert.equal(restarted.reason, 'server-restarted');
    assert.deepEqual(
      other.ofType('event').map((e) => e.id),
      [8, 9, 10, 11, 12],
      'every held event of the new server',
    );
    other.ws.close();

    const bad = probe(`${server.url}/v1/stream?since=-1`);
    assert.equal((await bad.next((m) => m.type === 'error')).code, 'ERR_BAD_PARAMS');
    assert.equal((await bad.closed).code, 1008);
  } finally {
    await server.close();
  }
});

test('a slow client (paused socket) delays neither publishing nor other clients; it loses predictions, counted, and no events', async () => {
  const server = await testServer(model, { outbox: { maxBufferedBytes: 64 * 1024 } });
  try {
    const slow = probe(`${server.url}/v1/stream`);
    const fast = probe(`${server.url}/v1/stream`);
    await Promise.all([slow.next((m) => m.type === 'hello'), fast.next((m) => m.type === 'hello')]);
    slow.ws.pause(); // stops reading: the kernel buffers fill, then the server's

    const rounds = 60;
    const perRound = 100;
    let worstPublishMs = 0;
    let worstLatencyMs = 0;
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      for (let i = 0; i < perRound; i++) server.publish(bigPrediction(r * perRound + i));
      if (r % 10 === 5) server.publishEvent(event(r));
      worstPublishMs = Math.max(worstPublishMs, performance.now() - t0);
      const last = r * perRound + perRound - 1;
      await fast.next((m) => m.type === 'prediction' && m.index === last);
      worstLatencyMs = Math.max(worstLatencyMs, performance.now() - t0);
    }
    const total = rounds * perRound;
    assert.equal(fast.ofType('prediction').length, total, 'the fast client got every prediction');
    assert.equal(fast.ofType('status').length, 0, 'and no drop report');
    assert.ok(worstLatencyMs < 2000, `fast client latency ${worstLatencyMs.toFixed(0)} ms`);
    assert.ok(worstPublishMs < 500, `publishing ${perRound} messages took at most ${worstPublishMs.toFixed(0)} ms`);

    slow.ws.resume();
    const drops = await slow.next((m) => m.type === 'status' && m.kind === 'drops', 20_000);
    const dropped = (drops.dropped as { prediction: number }).prediction;
    assert.ok(dropped > 0, 'the slow client lost predictions');
    assert.equal(drops.total, dropped);
    await until(() => slow.ofType('prediction').length + dropped === total, 10_000, 'every prediction either delivered or counted');
    assert.deepEqual(
      slow.ofType('event').map((e) => e.id),
      [1, 2, 3, 4, 5, 6],
      'every event arrived, in order',
    );
    for (const p of [slow, fast]) p.ws.close();
  } finally {
    await server.close();
  }
});

test('a client whose event queue overflows is closed with ERR_SLOW_CONSUMER (1013) and gets the events back with since', async () => {
  const server = await testServer(model, { outbox: { maxBufferedBytes: 16 * 1024, maxQueued: 5 } });
  try {
    const slow = probe(`${server.url}/v1/stream`);
    await slow.next((m) => m.type === 'hello');
    slow.ws.pause();
    // fill the socket with predictions, then queue more events than allowed
    for (let i = 0; i < 4000; i++) server.publish(bigPrediction(i));
    for (let i = 1; i <= 10; i++) server.publishEvent(event(i));
    await sleep(50);
    slow.ws.resume();
    const err = await slow.next((m) => m.type === 'error', 20_000);
    assert.equal(err.code, 'ERR_SLOW_CONSUMER');
    assert.equal(err.fatal, true);
    assert.equal((await slow.closed).code, 1013);
    const lastSeen = Math.max(0, ...slow.ofType('event').map((e) => e.id as number));
    const back = probe(`${server.url}/v1/stream?since=${lastSeen}&serverId=${server.serverId}`);
    const resume = await back.next((m) => m.type === 'status' && m.kind === 'resume');
    assert.equal(resume.complete, true);
    assert.deepEqual(
      [...slow.ofType('event'), ...back.ofType('event')].map((e) => e.id),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    back.ws.close();
  } finally {
    await server.close();
  }
});
