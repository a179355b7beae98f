/**
 * Swapping the engine's model while streams run (what a server does after learning a class): a live
 * stream keeps going and reports the new class from its next windows, with the learned class's own
 * event settings; a class that disappears has its open event ended (reason model-changed); a model
 * with other feature settings or bad event settings is refused and nothing changes.
 * The models are the tilt model and its variant with a learned class 'bright' that wins over 'water'
 * (test/helpers/tilt-model.ts): windows of water.wav are 'water', then 'bright' after the swap.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Subject } from 'rxjs';
import { loadAudio } from '../../src/audio/wav-reader.ts';
import { resolveFeatureConfig } from '../../src/config.ts';
import { type Engine, type ModelChange, openEngine } from '../../src/engine/engine.ts';
import type { EventOutput, PredictionOutput, StreamOutput } from '../../src/engine/outputs.ts';
import type { EventEndReason } from '../../src/events/tracker.ts';
import { BatchQueue, Classifier } from '../../src/model/classifier.ts';
import { loadModel } from '../../src/model/io.ts';
import { REPO_ROOT, tempDir } from '../helpers/fixtures.ts';
import { writeTiltModel } from '../helpers/tilt-model.ts';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let water: Float32Array;
let fire: Float32Array;
const dirs = { tilt: '', bright: '', magma: '' };
before(async () => {
  tmp = await tempDir();
  dirs.tilt = join(tmp.dir, 'tilt');
  dirs.bright = join(tmp.dir, 'bright');
  dirs.magma = join(tmp.dir, 'magma');
  await writeTiltModel(dirs.tilt);
  await writeTiltModel(dirs.bright, undefined, { bright: true });
  await writeTiltModel(dirs.magma, resolveFeatureConfig({ colormap: 'magma' }), { bright: true });
  water = await loadAudio(join(REPO_ROOT, 'samples/water.wav'), 16000);
  fire = await loadAudio(join(REPO_ROOT, 'samples/fire.wav'), 16000);
});
after(() => tmp.cleanup());

const events = (outs: StreamOutput[]) => outs.filter((o): o is EventOutput => o.type === 'event').map((o) => o.event);
const predictions = (outs: StreamOutput[]) => outs.filter((o): o is PredictionOutput => o.type === 'prediction').map((o) => o.prediction);

/** A live stream on `engine`: chunks pushed by the test. */
function live(engine: Engine, id = 'live') {
  const pcm = new Subject<Float32Array>();
  const stop = new Subject<EventEndReason>();
  const outs: StreamOutput[] = [];
  const done = new Promise<void>((resolve, reject) => {
    engine
      .stream(pcm, id, { sampleRateHz: 16000, stop })
      .subscribe({ next: (o) => outs.push(o), error: reject, complete: () => resolve() });
  });
  /** Resolves once `n` predictions have come. */
  const windows = (n: number) =>
    new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (predictions(outs).length >= n) {
          clearInterval(t);
          resolve();
        }
      }, 5);
    });
  return { pcm, stop, outs, done, windows };
}

test('a running stream takes the new model: the learned class is reported with its own event settings; the stream goes on', async () => {
  const engine = await openEngine({ model: dirs.tilt, backend: 'wasm' });
  const changes: ModelChange[] = [];
  engine.modelChanges.subscribe((c) => changes.push(c));
  const s = live(engine);
  try {
    s.pcm.next(water);
    await s.windows(9);
    assert.deepEqual(
      events(s.outs).map((e) => `${e.label} ${e.phase}`),
      ['water start'],
    );
    const change = await engine.swapModel(dirs.bright);
    assert.deepEqual(change.added, ['bright']);
    assert.deepEqual(change.removed, []);
    assert.equal(change.previous.name, 'tilt');
    assert.equal(engine.model.name, 'tilt-bright');
    assert.deepEqual(engine.classes, ['fire', 'water', 'bright']);
    assert.deepEqual(changes, [change], 'modelChanges emitted the change');
    // the learned class's own settings (metadata customClasses[].events) are in force
    assert.equal(engine.eventSettings.settings.bright!.threshold, 0.5);
    assert.equal(engine.eventSettings.settings.bright!.minDurationMs, 1000);
    assert.equal(engine.eventSettings.settings.water!.threshold, 0.4, 'the others keep theirs');

    s.pcm.next(water);
    s.pcm.complete();
    await s.done;
    const after = predictions(s.outs).slice(9);
    assert.ok(after.length >= 12, `${after.length} windows after the swap`);
    assert.ok(
      after.every((p) => 'bright' in p.scores),
      'every window after the swap has the new class',
    );
    assert.ok(
      predictions(s.outs)
        .slice(0, 9)
        .every((p) => !('bright' in p.scores)),
      'the windows before it had not',
    );
    assert.ok(
      after.slice(4).every((p) => p.label === 'bright'),
      after.map((p) => p.label).join(' '),
    );
    const ev = events(s.outs).map((e) => `${e.label} ${e.phase}${e.reason ? ` (${e.reason})` : ''}`);
    // bright needs one window at 0.5; water's smoothed score takes a few windows to fall under its off-threshold
    assert.deepEqual(ev, ['water start', 'bright start', 'water end', 'bright end (stream-ended)']);
    const last = s.outs.at(-1)!;
    assert.ok(last.type === 'ended' && last.windows === predictions(s.outs).length, 'one stream from start to end');
  } finally {
    engine.dispose();
  }
});

test("a class the new model lacks: its open event ends at once (reason model-changed); the old model's windows in flight keep its classes", async () => {
  const engine = await openEngine({ model: dirs.bright, backend: 'wasm' });
  const s = live(engine);
  try {
    s.pcm.next(water);
    await s.windows(9);
    assert.ok(engine.model.classes.includes('bright'));
    assert.deepEqual(engine.eventSettings.settings.bright, { threshold: 0.5, offThreshold: 0.375, minDurationMs: 1000, cooldownMs: 2000 });
    assert.deepEqual(
      events(s.outs).map((e) => `${e.label} ${e.phase}`),
      ['bright start'],
    );
    const change = await engine.swapModel(dirs.tilt);
    assert.deepEqual(change.removed, ['bright']);
    const ends = events(s.outs).filter((e) => e.phase === 'end');
    assert.deepEqual(
      ends.map((e) => [e.label, e.reason]),
      [['bright', 'model-changed']],
      'ended when the model changed, before any new window',
    );
    assert.equal(ends[0]!.endMs, predictions(s.outs).at(-1)!.endMs);
    assert.equal(engine.eventSettings.settings.bright, undefined);
    s.pcm.next(fire);
    s.pcm.complete();
    await s.done;
    assert.deepEqual(
      events(s.outs).map((e) => `${e.label} ${e.phase}`),
      ['bright start', 'bright end', 'fire start', 'fire end'],
    );
  } finally {
    engine.dispose();
  }
});

test('refused swaps change nothing: other feature settings (ERR_MODEL_MISMATCH), event settings the new classes do not allow', async () => {
  const engine = await openEngine({ model: dirs.tilt, backend: 'wasm' });
  const s = live(engine);
  try {
    await assert.rejects(engine.swapModel(dirs.magma), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_MODEL_MISMATCH');
      assert.match(e.message, /colormap/);
      return true;
    });
    await assert.rejects(engine.swapModel(join(tmp.dir, 'nowhere')), { code: 'ERR_MODEL_NOT_FOUND' });
    await assert.rejects(engine.swapModel(dirs.bright, { events: { perClass: { thunder: { threshold: 0.5 } } } }), {
      code: 'ERR_EVENT_OPTIONS',
    });
    assert.equal(engine.model.name, 'tilt');
    assert.deepEqual(engine.classes, ['fire', 'water']);
    s.pcm.next(water);
    s.pcm.complete();
    await s.done;
    assert.ok(predictions(s.outs).every((p) => Object.keys(p.scores).join() === 'fire,water'));
    // events given for the new model are used as given (no carry-over)
    await engine.swapModel(dirs.bright, { events: { threshold: 0.9 } });
    assert.equal(engine.eventSettings.settings.bright!.threshold, 0.9);
  } finally {
    engine.dispose();
  }
  await assert.rejects(engine.swapModel(dirs.bright), { code: 'ERR_ENGINE_DISPOSED' });
});

test('the batch queue switches models between batches: each result names the classes of the model that made it', async () => {
  const a = new Classifier(await loadModel(dirs.tilt), { engine: 'tfjs' });
  const b = new Classifier(await loadModel(dirs.bright), { engine: 'tfjs' });
  const other = new Classifier(await loadModel(dirs.magma), { engine: 'tfjs' });
  try {
    const q = new BatchQueue(a);
    const image = new Uint8Array(32 * 32 * 3).fill(90);
    const first = await q.classify(image);
    assert.deepEqual(first.classes, ['fire', 'water']);
    assert.equal(first.probabilities.length, 2);
    const queued = q.classify(image); // queued, not yet run: it runs on the model in force when its batch runs
    q.swap(b);
    const second = await queued;
    assert.deepEqual(second.classes, ['fire', 'water', 'bright']);
    assert.equal(second.probabilities.length, 3);
    assert.throws(() => q.swap(other), /colormap/);
    assert.equal(q.classifier, b);
  } finally {
    a.dispose();
    b.dispose();
    other.dispose();
  }
});
