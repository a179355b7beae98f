/**
 * The engine on onnxruntime: the options every inference command builds (`engineOptionsOf`, as
 * replay, listen, serve's ingest, evaluate and predict do) with `--backend onnx --threads 1` open an
 * engine whose classifier really runs the onnx engine with one intra-op thread, and a stream through
 * it gives what the same stream gives on TensorFlow.js (WASM): the same labels and events, scores within
 * 1e-4 (the wire's four decimals).
 *
 * Skipped, with the reason, only where onnxruntime-node is not installed (an optional dependency);
 * `npm ci` installs it, so CI runs it. A process of its own: the backend is chosen once per process.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
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
import { REPO_ROOT } from '../helpers/fixtures.ts';

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
