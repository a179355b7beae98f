/**
 * Soak: a fixed number of windows streamed at full speed, through the server's ingest (rounds of
 * streams at 16 kHz s16le, 16 kHz f32le and 44.1 kHz, which is resampled) and through the in-process
 * pipeline, after a warm-up round. Afterwards nothing has grown: tensors, listeners on the process,
 * open handles (sockets, timers), child processes, connections and streams.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { lastValueFrom, tap } from 'rxjs';
import { encodePcm } from '../../src/audio/pcm.ts';
import { resample } from '../../src/audio/resample.ts';
import { BatchQueue } from '../../src/model/classifier.ts';
import { Backlog, classifyStream } from '../../src/stream/operators.ts';
import { fromSamples } from '../../src/stream/sources.ts';
import { noise } from '../helpers/fixtures.ts';
import { type Probe, type TestModel, probe, testServer, tinyModel, until } from './helpers.ts';

let model: TestModel;
before(async () => {
  model = await tinyModel();
});
after(() => model.dispose());

/** Child processes of this process (Linux: /proc; elsewhere 0). */
function childProcesses(): number {
  try {
    return readdirSync('/proc/self/task').reduce(
      (n, t) => n + readFileSync(`/proc/self/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).length,
      0,
    );
  } catch {
    return 0;
  }
}

const resources = () => {
  const r: Record<string, number> = {};
  for (const k of process.getActiveResourcesInfo()) r[k] = (r[k] ?? 0) + 1;
  return r;
};
const listeners = () => process.eventNames().reduce((n, e) => n + process.listenerCount(e), 0);

const SECONDS = 8; // 29 windows per stream
const WINDOWS = Math.floor((SECONDS * 16000 - 16000) / 4000) + 1;

/** Streams one recording in, as fast as the server takes it; resolves with the predictions' indices. */
async function ingestOnce(url: string, id: string, rate: number, format: 's16le' | 'f32le', bytes: Uint8Array): Promise<number[]> {
  const p: Probe = probe(`${url}/v1/ingest?streamId=${id}&sampleRateHz=${rate}&format=${format}`);
  await p.next((m) => m.type === 'status' && m.state === 'started');
  const frame = 32 * 1024;
  for (let off = 0; off < bytes.length; off += frame) p.ws.send(bytes.subarray(off, off + frame));
  p.ws.send(JSON.stringify({ type: 'end' }));
  const closed = await p.closed;
  assert.equal(closed.code, 1000, `${id} closed with ${closed.code} ${closed.reason}`);
  return p.ofType('prediction').map((m) => m.index as number);
}

test(`soak: ${WINDOWS} windows per stream, rounds of 3 streams at full speed, and the in-process pipeline: nothing grows`, async () => {
  const server = await testServer(model, { maxStreams: 8, maxStreamsPerAddress: 8 });
  const signal = noise(SECONDS, 16000, 0.3, 42);
  const s16 = encodePcm(signal, 's16le');
  const f32 = encodePcm(signal, 'f32le');
  const s16at44 = encodePcm(await resample(signal, 16000, 44100), 's16le');
  const sub = probe(`${server.url}/v1/stream?types=prediction`);
  await sub.next((m) => m.type === 'hello');
  const round = async (r: number) => {
    const got = await Promise.all([
      ingestOnce(server.url, `a${r}`, 16000, 's16le', s16),
      ingestOnce(server.url, `b${r}`, 16000, 'f32le', f32),
      ingestOnce(server.url, `c${r}`, 44100, 's16le', s16at44),
    ]);
    for (const [k, idx] of got.entries()) {
      // the resampled stream may lose a window at the end to the resampler's delay
      const want = k === 2 ? [WINDOWS - 1, WINDOWS] : [WINDOWS, WINDOWS];
      assert.ok(idx.length >= want[0]! && idx.length <= want[1]!, `round ${r} stream ${k}: ${idx.length} windows`);
      assert.deepEqual(idx, [...idx.keys()], 'in order, none missing');
    }
    const queue = new BatchQueue(model.classifier);
    const backlog = new Backlog(32);
    let n = 0;
    await lastValueFrom(
      classifyStream(fromSamples(signal, 16000, { pace: 'fast', gate: backlog }), { streamId: `local${r}`, queue, backlog }).pipe(
        tap(() => n++),
      ),
    );
    assert.equal(n, WINDOWS);
  };
  try {
    await round(0); // warm-up: lazily created queues, caches and the resampler's module
    await until(() => server.clientCount === 1 && server.ingestStreams.length === 0, 5000, 'ingest connections to close');
    const baseline = { tensors: tf.memory().numTensors, listeners: listeners(), children: childProcesses(), resources: resources() };
    const received = sub.ofType('prediction').length;
    const ROUNDS = 6;
    for (let r = 1; r <= ROUNDS; r++) await round(r);
    await until(() => server.clientCount === 1 && server.ingestStreams.length === 0, 5000, 'ingest connections to close');
    await until(
      () => JSON.stringify(resources()) === JSON.stringify(baseline.resources),
      5000,
      `handles back to ${JSON.stringify(baseline.resources)} (now ${JSON.stringify(resources())})`,
    ).catch(() => {});
    assert.equal(tf.memory().numTensors, baseline.tensors, 'tensors');
    assert.equal(listeners(), baseline.listeners, 'process listeners');
    assert.equal(childProcesses(), baseline.children, 'child processes');
    assert.deepEqual(resources(), baseline.resources, 'open handles');
    const streamed = sub.ofType('prediction').length - received;
    assert.ok(streamed >= ROUNDS * (3 * WINDOWS - 1), `the subscriber got ${streamed} predictions`);
  } finally {
    sub.ws.close();
    await server.close();
  }
});
