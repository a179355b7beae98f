import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { writeWav } from '../../src/audio/wav.ts';
import { initBackend } from '../../src/model/backend.ts';
import { BatchQueue, Classifier } from '../../src/model/classifier.ts';
import { loadModel } from '../../src/model/io.ts';
import { Backlog, classifyStream } from '../../src/stream/operators.ts';
import { fromSamples, fromWavFile } from '../../src/stream/sources.ts';
import { noise, tempDir, writeTinyModel } from '../helpers/fixtures.ts';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let classifier: Classifier;
before(async () => {
  await initBackend('wasm', null);
  tmp = await tempDir();
  await writeTinyModel(join(tmp.dir, 'm'), ['a', 'b']);
  classifier = new Classifier(await loadModel(join(tmp.dir, 'm')));
  classifier.warmUp();
});
after(async () => {
  classifier.dispose();
  await tmp.cleanup();
});

test('a WAV replay yields one prediction per hop with correct times and well-formed scores', async () => {
  const wav = join(tmp.dir, 'n.wav');
  await writeWav(wav, noise(3, 16000), 16000);
  const preds = await lastValueFrom(
    classifyStream(fromWavFile(wav, { sampleRateHz: 16000 }), { streamId: 's1', queue: new BatchQueue(classifier) }).pipe(toArray()),
  );
  assert.equal(preds.length, 9);
  preds.forEach((p, i) => {
    assert.equal(p.streamId, 's1');
    assert.equal(p.index, i);
    assert.equal(p.startMs, 250 * i);
    assert.equal(p.endMs, 250 * i + 1000);
    assert.deepEqual(Object.keys(p.scores), ['a', 'b']);
    assert.ok(Math.abs(p.scores.a! + p.scores.b! - 1) < 1e-5);
    assert.equal(p.confidence, Math.max(p.scores.a!, p.scores.b!));
    assert.ok(Number.isFinite(p.rmsDb));
  });
});

test('errors from the source (bad file) reach the subscriber', async () => {
  await assert.rejects(
    lastValueFrom(
      classifyStream(fromWavFile(join(tmp.dir, 'missing.wav'), { sampleRateHz: 16000 }), {
        streamId: 'x',
        queue: new BatchQueue(classifier),
      }),
    ),
    { code: 'ERR_FILE_NOT_FOUND' },
  );
});

test('a long fast replay batches inference and does not grow the tensor count', async () => {
  const queue = new BatchQueue(classifier, 32);
  const backlog = new Backlog(64);
  const before = tf.memory().numTensors;
  let n = 0;
  let maxBacklog = 0;
  await lastValueFrom(
    classifyStream(fromSamples(noise(60, 16000, 0.2, 4), 16000, { pace: 'fast', gate: backlog }), { streamId: 'long', queue, backlog }),
  ).then(() => undefined);
  const sub = classifyStream(fromSamples(noise(60, 16000, 0.2, 5), 16000, { pace: 'fast', gate: backlog }), {
    streamId: 'long2',
    queue,
    backlog,
  });
  await new Promise<void>((resolve, reject) =>
    sub.subscribe({
      next: () => {
        n++;
        maxBacklog = Math.max(maxBacklog, backlog.size);
      },
      error: reject,
      complete: resolve,
    }),
  );
  assert.equal(n, 237);
  assert.equal(tf.memory().numTensors, before);
  assert.ok(queue.stats.maxBatchSeen > 1, 'fast replay used batches larger than 1');
  assert.ok(maxBacklog <= 64 + 4, `backlog bounded (max ${maxBacklog})`);
  assert.equal(backlog.size, 0);
});

test('unsubscribing a real-time replay stops it and leaves no timers behind', async () => {
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'Immediate').length;
  const baseline = timers();
  const first = await firstValueFrom(
    classifyStream(fromSamples(noise(30, 16000), 16000, { pace: 'realtime', chunkMs: 50 }), {
      streamId: 'rt',
      queue: new BatchQueue(classifier),
    }).pipe(take(1)),
  );
  assert.equal(first.index, 0);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(timers(), baseline);
});

test('many streams share one queue and keep their own windowing', async () => {
  const queue = new BatchQueue(classifier);
  const runs = await Promise.all(
    [1, 2, 3].map((k) =>
      lastValueFrom(
        classifyStream(fromSamples(noise(1 + k * 0.25, 16000, 0.2, k), 16000, { chunkMs: 37 }), { streamId: `s${k}`, queue }).pipe(
          toArray(),
        ),
      ),
    ),
  );
  assert.deepEqual(
    runs.map((r) => r.length),
    [2, 3, 4],
  );
  runs.forEach((r, k) => {
    assert.ok(r.every((p) => p.streamId === `s${k + 1}`));
  });
});
