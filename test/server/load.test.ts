/**
 * Load: many ingest streams and subscribers open at once, then half of each dropped abruptly (TCP
 * connections destroyed, no close frame). The server stays up; the other streams finish with every
 * window; the other subscribers keep receiving; nothing leaks once everyone has gone.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { encodePcm } from '../../src/audio/pcm.ts';
import { noise } from '../helpers/fixtures.ts';
import { type Probe, type TestModel, probe, sleep, testServer, tinyModel, until } from './helpers.ts';

let model: TestModel;
before(async () => {
  model = await tinyModel();
});
after(() => model.dispose());

const STREAMS = 16;
const SUBSCRIBERS = 48;
const SECONDS = 6;
const WINDOWS = Math.floor((SECONDS * 16000 - 16000) / 4000) + 1;

test(`${STREAMS} ingest streams and ${SUBSCRIBERS} subscribers at once; half of each dropped abruptly`, async () => {
  const server = await testServer(model, { maxStreams: 32, maxStreamsPerAddress: 32 });
  const tensors = tf.memory().numTensors;
  const listeners = process.eventNames().reduce((n, e) => n + process.listenerCount(e), 0);
  try {
    const subs = Array.from({ length: SUBSCRIBERS }, () => probe(`${server.url}/v1/stream?types=prediction,status`));
    const streams = Array.from({ length: STREAMS }, (_, i) =>
      probe(`${server.url}/v1/ingest?streamId=load-${i}&sampleRateHz=16000&format=s16le`),
    );
    await Promise.all([
      ...subs.map((s) => s.next((m) => m.type === 'hello')),
      ...streams.map((s) => s.next((m) => m.type === 'status' && m.state === 'started')),
    ]);
    assert.equal(server.ingestStreams.length, STREAMS);
    const audio = streams.map((_, i) => encodePcm(noise(SECONDS, 16000, 0.3, 100 + i), 's16le'));
    // 100 ms frames, ten times real time
    const frame = 3200;
    const frames = Math.ceil(audio[0]!.length / frame);
    const send = (k: number, from: number, to: number) => {
      for (let f = from; f < to; f++) streams[k]!.ws.send(audio[k]!.subarray(f * frame, (f + 1) * frame));
    };
    const half = Math.floor(frames / 2);
    for (let f = 0; f < half; f++) {
      streams.forEach((_, k) => {
        send(k, f, f + 1);
      });
      await sleep(10);
    }
    await until(() => subs.every((s) => s.ofType('prediction').length > 0), 10_000, 'every subscriber to get predictions');

    // drop half of each, abruptly
    const dropped = new Set<Probe>([...streams.filter((_, i) => i % 2), ...subs.filter((_, i) => i % 2)]);
    for (const p of dropped) p.ws.terminate();
    const keptStreams = streams.filter((p) => !dropped.has(p));
    const keptSubs = subs.filter((p) => !dropped.has(p));
    const before = keptSubs.map((s) => s.ofType('prediction').length);

    for (let f = half; f < frames; f++) {
      streams.forEach((p, k) => {
        !dropped.has(p) && send(k, f, f + 1);
      });
      await sleep(10);
    }
    for (const p of keptStreams) p.ws.send(JSON.stringify({ type: 'end' }));
    const codes = await Promise.all(keptStreams.map((p) => p.closed));
    for (const [i, p] of keptStreams.entries()) {
      assert.equal(codes[i]!.code, 1000);
      assert.deepEqual(
        p.ofType('prediction').map((m) => m.index),
        [...Array(WINDOWS).keys()],
        `stream ${i} got every window`,
      );
      assert.equal(p.ofType('status').find((s) => s.state === 'ended')?.windows, WINDOWS);
    }
    // the remaining subscribers kept receiving, and heard that the dropped streams went away
    await until(
      () => keptSubs.every((s) => s.ofType('status').filter((m) => m.kind === 'stream' && m.state === 'ended').length === STREAMS),
      10_000,
      'every end of stream',
    );
    keptSubs.forEach((s, i) => {
      assert.ok(s.ofType('prediction').length >= before[i]! + (keptStreams.length * WINDOWS) / 4, `subscriber ${i} kept receiving`);
    });
    for (const s of keptSubs) {
      const ends = s.ofType('status').filter((m) => m.kind === 'stream' && m.state === 'ended');
      assert.equal(ends.filter((m) => m.reason === 'the client disconnected before end').length, STREAMS / 2);
    }

    // still up for newcomers; nothing left behind
    const late = probe(`${server.url}/v1/stream`);
    await late.next((m) => m.type === 'hello');
    await until(
      () => server.ingestStreams.length === 0 && server.clientCount === keptSubs.length + 1,
      5000,
      'dropped connections to be cleaned up',
    );
    for (const s of [...keptSubs, late]) s.ws.close();
    await until(() => server.clientCount === 0, 5000, 'all connections to close');
    assert.equal(tf.memory().numTensors, tensors, 'tensors');
    assert.equal(
      process.eventNames().reduce((n, e) => n + process.listenerCount(e), 0),
      listeners,
      'process listeners',
    );
  } finally {
    await server.close();
  }
  assert.deepEqual(server.logs, []);
});
