/** The subscriber hub on its own: fake sinks instead of sockets (what each subscriber is sent, in order). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_TYPES, type ErrorCode, type Filter, validateServerMessage } from '../../src/protocol/index.ts';
import { SubscriberHub, type SubscriberSink } from '../../src/server/hub.ts';
import type { Encoded } from '../../src/server/outbox.ts';

/** A subscriber's socket: records what it is sent; `backlog` plays the socket's unsent bytes. */
class FakeSink implements SubscriberSink {
  readonly sent: Record<string, unknown>[] = [];
  readonly failures: { code: ErrorCode; message: string }[] = [];
  backlog = 0;
  private readonly callbacks: (() => void)[] = [];
  get bufferedAmount() {
    return this.backlog;
  }
  send(m: Encoded, cb: () => void) {
    this.sent.push(JSON.parse(m.text) as Record<string, unknown>);
    this.callbacks.push(cb);
  }
  fail(code: ErrorCode, message: string) {
    this.failures.push({ code, message });
  }
  /** The socket drains: every write completes. */
  drain() {
    this.backlog = 0;
    for (const cb of this.callbacks.splice(0)) cb();
  }
  kinds() {
    return this.sent.map((m) =>
      m.type === 'status' ? `${m.kind}:${m.streamId ?? '-'}` : m.type === 'event' ? `event#${m.id}` : String(m.type),
    );
  }
}

const hub = (o: Partial<ConstructorParameters<typeof SubscriberHub>[0]> = {}) =>
  new SubscriberHub({
    serverId: 'srv',
    historySize: 100,
    maxSubscribers: 10,
    maxSubscribersPerAddress: 3,
    maxHeldStatuses: 256,
    outbox: { maxBufferedBytes: 1000, maxQueued: 5 },
    ...o,
  });
const all: Filter = { types: DEFAULT_TYPES };
const event = (label: string, streamId = 's') => ({
  streamId,
  label,
  phase: 'start' as const,
  startMs: 0,
  peakConfidence: 0.9,
  meanConfidence: 0.8,
});
const prediction = (index: number, streamId = 's') => ({
  type: 'prediction' as const,
  streamId,
  index,
  startMs: index * 250,
  endMs: index * 250 + 1000,
  label: 'hum',
  confidence: 0.9,
  scores: { hum: 0.9 },
  rmsDb: -20,
});

describe('the subscriber hub (fake sinks)', () => {
  test('a late subscriber gets the held statuses (latest per stream and kind, publishing order), then live messages', () => {
    const h = hub();
    h.publishStatus({ kind: 'stream', streamId: 'mic', state: 'started', source: 'sox' });
    h.publishStatus({ streamId: 'mic', state: 'listening', level: 'info', message: 'ok' }); // kind defaults to recorder
    h.publishStatus({ kind: 'stream', streamId: 'gone', state: 'started', source: 'ingest' });
    h.publishStatus({ kind: 'stream', streamId: 'gone', state: 'ended', source: 'ingest' }); // forgets 'gone'
    h.publishStatus({ kind: 'stream', streamId: 'mic', state: 'started', source: 'sox again' }); // replaces, moves last
    const sink = new FakeSink();
    h.add(sink, { address: 'a', filter: all });
    assert.deepEqual(sink.kinds(), ['recorder:mic', 'stream:mic']);
    assert.equal(sink.sent[1]!.source, 'sox again');
    h.publishEvent(event('hum'));
    assert.deepEqual(sink.kinds().at(-1), 'event#1');
    for (const m of sink.sent) assert.ok(validateServerMessage(m).ok);
  });

  test('filters by type, stream and class; a subscribe replaces the filter', () => {
    const h = hub();
    const a = new FakeSink();
    const b = new FakeSink();
    const subB = h.add(b, { address: 'x', filter: { types: ['event'], classes: ['hiss'] } });
    h.add(a, { address: 'x', filter: { types: ['prediction'], streams: ['t'] } });
    h.publishPrediction(prediction(0, 's'));
    h.publishPrediction(prediction(1, 't'));
    h.publishEvent(event('hum'));
    h.publishEvent(event('hiss'));
    assert.deepEqual(
      a.sent.map((m) => `${m.type}:${m.streamId}`),
      ['prediction:t'],
    );
    assert.deepEqual(b.kinds(), ['event#2']);
    h.subscribe(subB, { type: 'subscribe', types: ['prediction'] });
    h.publishPrediction(prediction(2, 's'));
    assert.deepEqual(b.kinds(), ['event#2', 'prediction']);
    assert.equal(h.wants('spectrogram', 's'), false);
    h.subscribe(subB, { type: 'subscribe', types: ['spectrogram'], streams: ['s'] });
    assert.equal(h.wants('spectrogram', 's'), true);
    assert.equal(h.wants('spectrogram', 't'), false);
  });

  test('since: the missed events then a resume status; never an event twice on one connection', () => {
    const h = hub();
    for (const l of ['a', 'b', 'c', 'd']) h.publishEvent(event(l));
    const sink = new FakeSink();
    const sub = h.add(sink, { address: 'x', filter: all, since: 2, serverId: 'srv' });
    assert.deepEqual(sink.kinds(), ['event#3', 'event#4', 'resume:-']);
    assert.deepEqual(sink.sent.at(-1), { type: 'status', kind: 'resume', since: 2, replayed: 2, complete: true, lastEventId: 4 });
    h.publishEvent(event('e'));
    h.subscribe(sub, { type: 'subscribe', since: 0 });
    assert.deepEqual(sink.kinds(), ['event#3', 'event#4', 'resume:-', 'event#5', 'event#1', 'event#2', 'resume:-']);
    assert.equal(sink.sent.at(-1)!.replayed, 2);
  });

  test('since: expired history, another server, and an id this server never gave are each named', () => {
    const h = hub({ historySize: 3 });
    for (let i = 0; i < 6; i++) h.publishEvent(event(`e${i}`));
    const resume = (since: number, serverId?: string) => {
      const sink = new FakeSink();
      h.add(sink, { address: 'x', filter: all, since, ...(serverId ? { serverId } : {}) });
      return { events: sink.sent.filter((m) => m.type === 'event').map((m) => m.id), status: sink.sent.at(-1)! };
    };
    const expired = resume(1, 'srv');
    assert.deepEqual(expired.events, [4, 5, 6]);
    assert.deepEqual(expired.status, {
      type: 'status',
      kind: 'resume',
      since: 1,
      replayed: 3,
      complete: false,
      reason: 'history-expired',
      lostFromId: 2,
      lostToId: 3,
      lastEventId: 6,
    });
    const restarted = resume(5, 'another');
    assert.deepEqual(restarted.events, [4, 5, 6], 'every held event of this server');
    assert.equal(restarted.status.reason, 'server-restarted');
    assert.equal(restarted.status.complete, false);
    const future = resume(50);
    assert.deepEqual(future.events, [4, 5, 6], 'an unknown id: every held event, as for a restart');
    assert.deepEqual(future.status, {
      type: 'status',
      kind: 'resume',
      since: 50,
      replayed: 3,
      complete: false,
      reason: 'unknown-id',
      lastEventId: 6,
    });
    const same = resume(6, 'srv');
    assert.deepEqual(same.events, []);
    assert.equal(same.status.complete, true, 'since = the newest id: nothing missed');
    for (const r of [expired, restarted, future, same]) assert.ok(validateServerMessage(r.status).ok);
  });

  test('a slow subscriber loses predictions (counted, reported once caught up), keeps events, and is given up on when its queue overflows', () => {
    const h = hub();
    const slow = new FakeSink();
    const fast = new FakeSink();
    h.add(slow, { address: 'x', filter: all });
    h.add(fast, { address: 'y', filter: all });
    h.publishPrediction(prediction(0));
    slow.backlog = 5000; // that write is still in the socket, and more: over maxBufferedBytes
    for (let i = 1; i <= 10; i++) h.publishPrediction(prediction(i));
    h.publishEvent(event('hum'));
    assert.equal(fast.sent.length, 12, 'the fast one is not held back');
    assert.equal(slow.sent.length, 1);
    slow.drain(); // the write completes: the queue is pumped, then the drop report
    assert.deepEqual(slow.kinds(), ['prediction', 'event#1', 'drops:-']);
    assert.deepEqual(slow.sent[2], { type: 'status', kind: 'drops', dropped: { prediction: 10, spectrogram: 0 }, total: 10 });
    slow.backlog = 5000;
    for (let i = 0; i < 6; i++) h.publishEvent(event('hiss'));
    assert.deepEqual(
      slow.failures.map((f) => f.code),
      ['ERR_SLOW_CONSUMER'],
      'the sixth queued event overflows a queue of 5',
    );
  });

  test('subscriber limits, in all and per address; ingest connections do not count', () => {
    const h = hub({ maxSubscribers: 4, maxSubscribersPerAddress: 2 });
    const subs = [h.add(new FakeSink(), { address: 'a', filter: all }), h.add(new FakeSink(), { address: 'a', filter: all })];
    assert.match(h.admit('a')?.message ?? '', /this address has 2 subscriber connections open/);
    assert.equal(h.admit('b'), undefined, 'another address is not held back by the first');
    h.add(new FakeSink(), { address: 'a', filter: all, ingest: true });
    assert.equal(h.subscriberCount('a'), 2);
    subs.push(h.add(new FakeSink(), { address: 'b', filter: all }), h.add(new FakeSink(), { address: 'c', filter: all }));
    assert.match(h.admit('d')?.message ?? '', /the server has 4 subscribers/);
    h.remove(subs[0]!);
    h.remove(subs[0]!); // idempotent
    assert.equal(h.subscriberCount('a'), 1);
    assert.equal(h.admit('a'), undefined);
  });

  test('publishing checks the schema; a bad event uses up no id; removed subscribers get nothing', () => {
    const h = hub();
    const sink = new FakeSink();
    const sub = h.add(sink, { address: 'x', filter: all });
    assert.throws(() => h.publishEvent({ ...event('hum'), phase: 'end' }), { code: 'ERR_PROTOCOL', message: /endMs/ });
    assert.throws(() => h.publishEvent({ ...event('hum'), reason: 'stream-ended' }), { code: 'ERR_PROTOCOL' }, 'reason is for end events');
    assert.equal(h.publishEvent({ ...event('hum'), phase: 'end', endMs: 5, reason: 'stream-ended' }).id, 1);
    h.remove(sub);
    h.publishEvent(event('hum'));
    assert.deepEqual(sink.kinds(), ['event#1']);
  });
});
