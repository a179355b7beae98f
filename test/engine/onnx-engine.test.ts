/**
 * The engine on onnxruntime: the options every inference command builds (`engineOptionsOf`, as
 * replay, listen, serve's ingest, evaluate and predict do) with `--backend onnx --threads 1` open an
 * engine whose classifier really runs the onnx engine with one intra-op thread, and a stream through
 * it gives what the same stream gives on TensorFlow.js (WASM): the same labels and events, scores within
 * 1e-4 (the wire's four decimals). A learned model (its head widened with the trunk's pooled stage
 * features: GlobalMaxPooling2D, GlobalAveragePooling2D, Concatenate) gives the same scores on both, and
 * an onnx engine that switches to it at run time (`swapModel`, as a server does after learning) keeps
 * running onnx.
 *
 * Skipped, with the reason, only where onnxruntime-node is not installed (an optional dependency);
 * `npm ci` installs it, so CI runs it. A process of its own: the backend is chosen once per process.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeWav } from '../../src/audio/wav.ts';
import { resolveFeatureConfig } from '../../src/config.ts';
import { renderClip } from '../../src/features/clip.ts';
import { learnClass } from '../../src/learn/model-dir.ts';
import { lastValueFrom, toArray } from 'rxjs';
import { loadAudio } from '../../src/audio/wav-reader.ts';
import { engineOptionsOf } from '../../src/cli/common.ts';
import { Engine, openEngine } from '../../src/engine/engine.ts';
import type { StreamOutput } from '../../src/engine/outputs.ts';
import { Classifier } from '../../src/model/classifier.ts';
import { loadModel } from '../../src/model/io.ts';
import { OnnxEngine, loadOnnxRuntime } from '../../src/model/onnx/runtime.ts';
import { DEFAULT_MODEL_DIR } from '../../src/paths.ts';
import { fromSamples } from '../../src/stream/sources.ts';
import { REPO_ROOT, fixture, tempDir } from '../helpers/fixtures.ts';

const absent = await loadOnnxRuntime().then(
  () => false as const,
  (e: Error) => `onnxruntime-node is not available here (${e.message})`,
);

let onnx: Engine | undefined;
let tfjs: Engine | undefined;
before(async () => {
  if (absent) return;
  onnx = await openEngine(await engineOptionsOf({ model: DEFAULT_MODEL_DIR, backend: 'onnx', threads: 1 }));
  const cls = new Classifier(await loadModel(DEFAULT_MODEL_DIR), { engine: 'tfjs' });
  cls.warmUp();
  tfjs = new Engine(cls);
});
after(() => {
  onnx?.dispose();
  tfjs?.dispose();
});

test('engineOptionsOf + openEngine with --backend onnx --threads 1: the classifier runs the onnx engine on one thread', {
  skip: absent,
}, () => {
  const model = onnx!.model;
  assert.ok(model instanceof Classifier);
  assert.ok(model.engine instanceof OnnxEngine, `engine ${model.engine.name}`);
  assert.equal(model.engine.name, 'onnx');
  assert.equal(model.engine.threads, 1);
  const other = tfjs!.model as Classifier;
  assert.equal(other.engine.name, 'tfjs-wasm', 'the comparison runs on TensorFlow.js (WASM)');
});

test('a 48 kHz stream through the onnx engine: the labels and events of tfjs-wasm, scores within 1e-4', { skip: absent }, async () => {
  const water = await loadAudio(join(REPO_ROOT, 'samples/water.wav'), 48000);
  const fire = await loadAudio(join(REPO_ROOT, 'samples/fire.wav'), 48000);
  const scene = new Float32Array(water.length + fire.length);
  scene.set(water);
  scene.set(fire, water.length);
  const run = (e: Engine) =>
    lastValueFrom(e.stream(fromSamples(scene, 48000, { chunkMs: 100 }), 'scene', { sampleRateHz: 48000 }).pipe(toArray()));
  const [a, b] = [await run(onnx!), await run(tfjs!)];
  const preds = (outs: StreamOutput[]) => outs.flatMap((o) => (o.type === 'prediction' ? [o.message] : []));
  const events = (outs: StreamOutput[]) => outs.flatMap((o) => (o.type === 'event' ? [o.message] : []));
  assert.equal(preds(a).length, preds(b).length);
  assert.ok(preds(a).length >= 20, `${preds(a).length} windows`);
  preds(a).forEach((p, i) => {
    const q = preds(b)[i]!;
    assert.equal(p.label, q.label, `window ${i}`);
    for (const [k, v] of Object.entries(p.scores))
      assert.ok(Math.abs(v - q.scores[k]!) <= 1e-4 + 1e-9, `window ${i} ${k}: ${v} vs ${q.scores[k]}`);
  });
  assert.ok(events(b).length >= 2, `${events(b).length} events: the scene has sounds`);
  assert.deepEqual(
    events(a).map((e) => [e.label, e.phase, e.startMs, e.endMs, e.reason]),
    events(b).map((e) => [e.label, e.phase, e.startMs, e.endMs, e.reason]),
  );
});

test('a learned model (pooled stage features in its head): the same scores on onnx and tfjs-wasm within 1e-4; an onnx engine swaps to it and stays onnx', {
  skip: absent,
  timeout: 120_000,
}, async () => {
  const tmp = await tempDir();
  try {
    const c = resolveFeatureConfig();
    const bell = await loadAudio(fixture('doorbell-homedecor.wav'), c.sampleRateHz);
    const takes: string[] = [];
    for (const k of [0, 1, 2]) {
      const p = join(tmp.dir, `take${k}.wav`);
      await writeWav(
        p,
        Float32Array.from(bell, (_, i) => bell[(i + k * c.sampleRateHz) % bell.length]!),
        c.sampleRateHz,
      );
      takes.push(p);
    }
    const dir = join(tmp.dir, 'learned');
    await learnClass({ model: DEFAULT_MODEL_DIR, out: dir, label: 'doorbell', examples: takes, settings: { augmentations: 4 } });
    const wasm = new Classifier(await loadModel(dir), { engine: 'tfjs' });
    const ort = new Classifier(await loadModel(dir), { engine: 'onnx' });
    try {
      const kinds = new Set((await loadModel(dir)).model.layers.map((l) => l.getClassName()));
      for (const k of ['GlobalMaxPooling2D', 'GlobalAveragePooling2D', 'Concatenate'])
        assert.ok(kinds.has(k), `the learned head reads ${k}`);
      assert.equal(ort.engine.name, 'onnx');
      const inputs = [...(await renderClip(bell, c)).images];
      for (const name of ['rain', 'speech', 'wind'])
        inputs.push(...(await renderClip(await loadAudio(join(REPO_ROOT, `samples/${name}.wav`), 16000), c)).images);
      const [a, b] = [wasm.classify(inputs), ort.classify(inputs)];
      let worst = 0;
      a.forEach((x, i) => {
        assert.equal(b[i]!.label, x.label, `window ${i}`);
        for (const [k, p] of x.probabilities.entries()) worst = Math.max(worst, Math.abs(p - b[i]!.probabilities[k]!));
      });
      assert.ok(worst <= 1e-4, `scores differ by up to ${worst}`);
      assert.ok(
        a.slice(0, 9).some((x) => x.label === 'doorbell'),
        'the doorbell windows are doorbell: the comparison is about the new class',
      );
    } finally {
      wasm.dispose();
      ort.dispose();
    }
    // a running onnx engine switches to the learned model on the same engine kind
    const e = await openEngine(await engineOptionsOf({ model: DEFAULT_MODEL_DIR, backend: 'onnx', threads: 1 }));
    try {
      const change = await e.swapModel(dir);
      assert.deepEqual(change.added, ['doorbell']);
      assert.equal((e.model as Classifier).engine.name, 'onnx');
      const outs = await lastValueFrom(e.stream(fromSamples(bell, 16000), 'hall', { sampleRateHz: 16000 }).pipe(toArray()));
      assert.ok(
        outs.some((o) => o.type === 'event' && o.event.label === 'doorbell'),
        'a doorbell event',
      );
    } finally {
      e.dispose();
    }
  } finally {
    await tmp.cleanup();
  }
});
