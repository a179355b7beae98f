/**
 * The ONNX engine: what the exporter writes (opset, dynamic batch, NHWC input, float32 weights, batch
 * norm folded, the source fingerprint), and that onnxruntime gives what TensorFlow.js (WASM) gives —
 * the same labels and scores within 1e-4 — for both architectures (seeded untrained networks, batch
 * norm with trained-like statistics) and the bundled model, on random inputs and on the bundled
 * samples rendered through the feature path; a stale model.onnx is noticed and not used.
 *
 * Skipped, with the reason, only where onnxruntime-node is not installed (an optional dependency);
 * `npm ci` installs it, so CI runs them.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import onnxProto from 'onnx-proto';
import { loadAudio } from '../../src/audio/wav-reader.ts';
import { resolveFeatureConfig } from '../../src/config.ts';
import { renderClip } from '../../src/features/clip.ts';
import { type Architecture, buildModel } from '../../src/model/architectures.ts';
import { initBackend } from '../../src/model/backend.ts';
import { Classifier } from '../../src/model/classifier.ts';
import { TfjsEngine } from '../../src/model/inference.ts';
import { type LoadedModel, loadModel, saveModel } from '../../src/model/io.ts';
import { exportToOnnx } from '../../src/model/onnx/export.ts';
import {
  FINGERPRINT_KEY,
  ONNX_FILE,
  networkFingerprint,
  onnxMetadata,
  onnxModelFor,
  writeOnnxModel,
} from '../../src/model/onnx/model-file.ts';
import { OnnxEngine, loadOnnxRuntime } from '../../src/model/onnx/runtime.ts';
import { DEFAULT_MODEL_DIR, SAMPLES_DIR } from '../../src/paths.ts';
import { tempDir } from '../helpers/fixtures.ts';

const { onnx } = onnxProto;
const TOLERANCE = 1e-4;
const CLASSES = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];

const absent = await loadOnnxRuntime().then(
  () => false as const,
  (e: Error) => `onnxruntime-node is not available here (${e.message})`,
);

before(async () => {
  await initBackend('wasm', null);
});

/** A seeded network of `arch`; batch norms get trained-like statistics so that folding them matters. */
function network(arch: Architecture, seed = 3): tf.LayersModel {
  const m = buildModel(arch, { numClasses: CLASSES.length, seed });
  let k = 0;
  for (const l of m.layers) {
    if (l.getClassName() !== 'BatchNormalization') continue;
    const fresh = l
      .getWeights()
      .map((x, i) => tf.randomUniform(x.shape, i === 3 ? 0.2 : -0.8, i === 3 ? 3 : 1.2, 'float32', seed * 100 + k++));
    l.setWeights(fresh);
    tf.dispose(fresh);
  }
  return m;
}

/** Deterministic model-input images: random bytes (the classifier's one /255 makes them [0, 1] floats). */
function randomInputs(n: number, seed: number): Uint8Array[] {
  let a = seed >>> 0;
  const rand = () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a >>> 24;
  };
  return Array.from({ length: n }, () => Uint8Array.from({ length: 32 * 32 * 3 }, rand));
}

/** Every window of every bundled sample, rendered by the feature path as the model sees it (image bytes). */
async function sampleInputs(): Promise<Uint8Array[]> {
  const c = resolveFeatureConfig();
  const out: Uint8Array[] = [];
  for (const f of readdirSync(SAMPLES_DIR)
    .filter((f) => f.endsWith('.wav'))
    .sort())
    out.push(...(await renderClip(await loadAudio(join(SAMPLES_DIR, f), c.sampleRateHz), c)).images);
  return out;
}

/** Asserts that two classifiers agree on `inputs`: same labels, every score within TOLERANCE. */
function assertSameClassifications(a: Classifier, b: Classifier, inputs: Uint8Array[], what: string): void {
  const ra = a.classify(inputs);
  const rb = b.classify(inputs);
  let worst = 0;
  ra.forEach((x, i) => {
    const y = rb[i]!;
    assert.equal(y.label, x.label, `${what}: input ${i} labelled ${x.label} by ${a.engine.name}, ${y.label} by ${b.engine.name}`);
    x.probabilities.forEach((p, k) => {
      worst = Math.max(worst, Math.abs(p - y.probabilities[k]!));
    });
  });
  assert.ok(worst <= TOLERANCE, `${what}: scores differ by up to ${worst}`);
}

function loadedFrom(model: tf.LayersModel, dir = ''): LoadedModel {
  return {
    model,
    dir,
    metadata: {
      format: 'soundee-model',
      formatVersion: 1,
      name: 't',
      architecture: 'test',
      classes: CLASSES,
      features: resolveFeatureConfig(),
      confidenceThreshold: 0.3,
      createdAt: '',
    },
  };
}

for (const arch of ['seed-cnn', 'resnet'] as const) {
  test(`${arch}: the export is opset 13, NHWC input with a dynamic batch, float32 weights${arch === 'resnet' ? ', batch norm folded' : ''}`, () => {
    const m = network(arch);
    try {
      const proto = onnx.ModelProto.decode(exportToOnnx(m, { metadata: { k: 'v' } }));
      assert.deepEqual(
        proto.opsetImport.map((o) => [o.domain, Number(o.version)]),
        [['', 13]],
      );
      const graph = proto.graph!;
      const dims = (v: onnxProto.onnx.IValueInfoProto) =>
        v.type!.tensorType!.shape!.dim!.map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue)));
      assert.deepEqual(dims(graph.input![0]!), ['batch', 32, 32, 3]);
      assert.deepEqual(dims(graph.output![0]!), ['batch', CLASSES.length]);
      assert.ok(
        graph.initializer!.every(
          (t) =>
            t.dataType === onnx.TensorProto.DataType.FLOAT && t.rawData!.length === 4 * t.dims!.reduce((a: number, b) => a * Number(b), 1),
        ),
      );
      const ops = graph.node!.map((n) => n.opType);
      assert.ok(!ops.includes('BatchNormalization'), `ops: ${[...new Set(ops)].join(', ')}`);
      assert.equal(ops.filter((o) => o === 'Conv').length, m.layers.filter((l) => l.getClassName() === 'Conv2D').length);
      assert.deepEqual(
        proto.metadataProps.map((p) => [p.key, p.value]),
        [['k', 'v']],
      );
    } finally {
      m.dispose();
    }
  });

  test(`${arch}: onnxruntime and tfjs-wasm give the same labels and scores (±${TOLERANCE}) on random inputs and on the bundled samples`, {
    skip: absent,
  }, async () => {
    const samples = await sampleInputs();
    const wasm = new Classifier(loadedFrom(network(arch)), { engine: 'tfjs' });
    const ort = new Classifier(loadedFrom(network(arch)), { engine: 'onnx' });
    try {
      assert.equal(wasm.engine.name, 'tfjs-wasm');
      assert.equal(ort.engine.name, 'onnx');
      for (const n of [1, 3, 64]) assertSameClassifications(wasm, ort, randomInputs(n, n), `${n} random inputs`);
      assertSameClassifications(wasm, ort, samples, `${samples.length} sample windows`);
    } finally {
      wasm.dispose();
      ort.dispose();
    }
  });
}

test('the bundled model (float16 weights, widened): onnxruntime and tfjs-wasm agree on the samples and on random inputs', {
  skip: absent,
}, async () => {
  const wasm = new Classifier(await loadModel(DEFAULT_MODEL_DIR), { engine: 'tfjs' });
  const ort = new Classifier(await loadModel(DEFAULT_MODEL_DIR), { engine: 'onnx' });
  try {
    const samples = await sampleInputs();
    assert.ok(samples.length >= 8 * 9, `${samples.length} windows`);
    assertSameClassifications(wasm, ort, samples, 'bundled samples');
    assertSameClassifications(wasm, ort, randomInputs(32, 7), 'random inputs');
    // the model is right about most of its own samples, so the agreement is about real labels
    const right = ort.classify(samples).filter((c) => c.label !== 'unknown').length;
    assert.ok(right > 0);
  } finally {
    wasm.dispose();
    ort.dispose();
  }
});

test('every layer kind the exporter handles computes what tfjs computes', { skip: absent }, () => {
  const input = tf.input({ shape: [15, 12, 3] });
  const conv = (x: tf.SymbolicTensor, config: Parameters<typeof tf.layers.conv2d>[0]) =>
    tf.layers.conv2d({ kernelInitializer: tf.initializers.glorotUniform({ seed: 11 }), ...config }).apply(x) as tf.SymbolicTensor;
  const a = conv(input, { filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' }); // odd input, stride 2
  const b = conv(input, { filters: 6, kernelSize: [3, 5], strides: 2, padding: 'same', dilationRate: 1, activation: 'sigmoid' });
  const c = conv(input, { filters: 6, kernelSize: 3, dilationRate: 2, padding: 'same' });
  const cPooled = tf.layers.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(c) as tf.SymbolicTensor;
  const merged = tf.layers.average().apply([a, b, cPooled]) as tf.SymbolicTensor;
  const relu6 = tf.layers.reLU({ maxValue: 6 }).apply(tf.layers.multiply().apply([merged, a]) as tf.SymbolicTensor) as tf.SymbolicTensor;
  const sub = tf.layers.maximum().apply([relu6, tf.layers.minimum().apply([b, cPooled]) as tf.SymbolicTensor]) as tf.SymbolicTensor;
  const cat = tf.layers
    .concatenate()
    .apply([sub, tf.layers.maxPooling2d({ poolSize: 2, strides: 1, padding: 'same' }).apply(a) as tf.SymbolicTensor]) as tf.SymbolicTensor;
  const valid = conv(cat, { filters: 5, kernelSize: 2, padding: 'valid', activation: 'relu' });
  const gmax = tf.layers.globalMaxPooling2d({}).apply(valid) as tf.SymbolicTensor;
  const gavg = tf.layers.globalAveragePooling2d({}).apply(valid) as tf.SymbolicTensor;
  const flat = tf.layers.flatten().apply(tf.layers.maxPooling2d({ poolSize: 2 }).apply(valid) as tf.SymbolicTensor) as tf.SymbolicTensor;
  const joined = tf.layers.concatenate().apply([gmax, gavg, flat]) as tf.SymbolicTensor;
  const dense = tf.layers
    .dense({ units: 7, useBias: false, kernelInitializer: tf.initializers.glorotUniform({ seed: 12 }) })
    .apply(joined) as tf.SymbolicTensor;
  const bn = tf.layers.batchNormalization().apply(dense) as tf.SymbolicTensor; // after a Dense: not folded, exported as is
  const act = tf.layers.activation({ activation: 'relu' }).apply(bn) as tf.SymbolicTensor;
  const out = tf.layers
    .dense({ units: 4, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 13 }) })
    .apply(act) as tf.SymbolicTensor;
  const m = tf.model({ inputs: input, outputs: out });
  const bnLayer = m.layers.find((l) => l.getClassName() === 'BatchNormalization')!;
  const stats = bnLayer.getWeights().map((w, i) => tf.randomUniform(w.shape, i === 3 ? 0.5 : -1, i === 3 ? 2 : 1, 'float32', 40 + i));
  bnLayer.setWeights(stats);
  tf.dispose(stats);
  const engine = new OnnxEngine(exportToOnnx(m), [15, 12, 3], { threads: 1 });
  const tfjs = new TfjsEngine(m);
  try {
    const x = Float32Array.from({ length: 5 * 15 * 12 * 3 }, (_, i) => Math.sin(i * 0.37) * 2);
    const want = tfjs.run(x, 5);
    const got = engine.run(x, 5);
    assert.equal(got.length, want.length);
    want.forEach((v, i) => {
      assert.ok(Math.abs(v - got[i]!) <= TOLERANCE, `output ${i}: ${got[i]} vs ${v}`);
    });
  } finally {
    engine.dispose();
    tfjs.dispose();
    m.dispose();
  }
});

test('a layer the exporter does not handle is refused with ERR_ONNX_EXPORT, naming it', () => {
  const m = tf.sequential({
    layers: [
      tf.layers.depthwiseConv2d({ inputShape: [8, 8, 3], kernelSize: 3, name: 'dw' }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 2 }),
    ],
  });
  try {
    assert.throws(() => exportToOnnx(m), { code: 'ERR_ONNX_EXPORT', message: /dw \(DepthwiseConv2D\)/ });
  } finally {
    m.dispose();
  }
});

test('model.onnx: used when it was exported from these weights; a stale or broken one is not used', { skip: absent }, async () => {
  const tmp = await tempDir();
  const meta = { name: 'r', architecture: 'resnet', classes: CLASSES, features: resolveFeatureConfig(), confidenceThreshold: 0.3 };
  try {
    const dir = join(tmp.dir, 'm');
    const first = network('resnet', 21);
    await saveModel(first, dir, meta, { quantization: 'float16' });
    first.dispose();
    let loaded = await loadModel(dir);
    assert.equal(onnxModelFor(loaded.model, dir).source, 'exported', 'no file yet: exported in memory');
    const written = await writeOnnxModel(loaded.model, dir);
    assert.equal(written.path, join(dir, ONNX_FILE));
    assert.equal(
      onnxMetadata(await import('node:fs').then((fs) => fs.readFileSync(written.path)))[FINGERPRINT_KEY],
      networkFingerprint(loaded.model),
    );
    assert.equal(onnxModelFor(loaded.model, dir).source, 'file');
    loaded.model.dispose();

    // retrained: new weights under the same file names; the old model.onnx stays behind
    const second = network('resnet', 22);
    await saveModel(second, dir, meta, { quantization: 'float16' });
    second.dispose();
    loaded = await loadModel(dir);
    assert.equal(onnxModelFor(loaded.model, dir).source, 'exported-stale');
    const ort = new Classifier(loaded, { engine: 'onnx' });
    const wasm = new Classifier(await loadModel(dir), { engine: 'tfjs' });
    try {
      assertSameClassifications(wasm, ort, randomInputs(16, 5), 'the new weights, not the stale file');
    } finally {
      ort.dispose();
      wasm.dispose();
    }

    await writeFile(join(dir, ONNX_FILE), 'not a model');
    loaded = await loadModel(dir);
    assert.equal(onnxModelFor(loaded.model, dir).source, 'exported-stale');
    loaded.model.dispose();
  } finally {
    await tmp.cleanup();
  }
});

test('the onnx engine leaks no tfjs tensors and refuses to run once disposed', { skip: absent }, async () => {
  const before = tf.memory().numTensors;
  const cls = new Classifier(await loadModel(DEFAULT_MODEL_DIR), { engine: 'onnx' });
  cls.warmUp();
  for (let i = 0; i < 5; i++) cls.classify(randomInputs(4, i));
  cls.dispose();
  assert.equal(tf.memory().numTensors, before);
  assert.throws(() => cls.engine.run(new Float32Array(32 * 32 * 3), 1), /disposed/);
});
