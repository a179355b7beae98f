/**
 * Inference and replay speed on one backend (run as a child process per backend, since tfjs picks one
 * backend per process): `tsx bench/inference.ts --backend wasm` prints JSON.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { lastValueFrom, tap } from 'rxjs';
import { loadAudio } from '../src/audio/wav.ts';
import { type Architecture, buildModel } from '../src/model/architectures.ts';
import { type BackendChoice, initBackend } from '../src/model/backend.ts';
import { BatchQueue, Classifier } from '../src/model/classifier.ts';
import { loadModel } from '../src/model/io.ts';
import { Backlog, classifyStream } from '../src/stream/operators.ts';
import { fromSamples } from '../src/stream/sources.ts';
import { DEFAULT_MODEL_DIR, SAMPLES_DIR } from '../src/paths.ts';
import { type Stat, timeIt } from './lib.ts';

export interface InferenceFigures {
  backend: string;
  archs: Record<string, { params: number; batch1Ms: Stat; batched: { batch: number; imagesPerSec: Stat }[]; best: { batch: number; imagesPerSec: number } }>;
  replay: { seconds: number; realtimeFactor: Stat; windows: number };
}

function predictor(m: tf.LayersModel, batch: number) {
  const x = tf.randomUniform([batch, 32, 32, 3], 0, 1, 'float32', 7);
  return { run: () => tf.tidy(() => (m.predict(x) as tf.Tensor).dataSync()), dispose: () => x.dispose() };
}

export async function benchInference(backend: BackendChoice, { quick = false } = {}): Promise<InferenceFigures> {
  const active = await initBackend(backend, null);
  const archs: InferenceFigures['archs'] = {};
  const models: [string, tf.LayersModel][] = (['seed-cnn', 'resnet'] as Architecture[]).map((a) => [a, buildModel(a, { numClasses: 8, seed: 1 })]);
  const batches = quick ? [1, 64] : [1, 8, 16, 32, 64, 128];
  for (const [name, m] of models) {
    const slow = active === 'cpu';
    const p1 = predictor(m, 1);
    const batch1Ms = await timeIt(p1.run, { repeats: slow ? 3 : 9, warmup: 3, inner: slow ? 2 : 10 });
    p1.dispose();
    const batched: { batch: number; imagesPerSec: Stat }[] = [];
    for (const b of batches.filter((b) => b > 1 && (!slow || b === 64))) {
      const p = predictor(m, b);
      const t = await timeIt(p.run, { repeats: slow ? 3 : 7, warmup: 2, inner: slow ? 1 : Math.max(1, Math.round(64 / b)) });
      p.dispose();
      batched.push({ batch: b, imagesPerSec: { median: (1000 * b) / t.median, min: (1000 * b) / t.max, max: (1000 * b) / t.min, n: t.n } });
    }
    const best = batched.reduce((a, x) => (x.imagesPerSec.median > a.imagesPerSec ? { batch: x.batch, imagesPerSec: x.imagesPerSec.median } : a), { batch: 1, imagesPerSec: 1000 / batch1Ms.median });
    archs[name] = { params: m.countParams(), batch1Ms, batched, best };
    m.dispose();
  }
  // replay: the bundled model on the bundled samples, looped to 60 s, as fast as possible
  const files = (await readdir(SAMPLES_DIR)).filter((f) => f.endsWith('.wav')).sort();
  const parts = await Promise.all(files.map((f) => loadAudio(join(SAMPLES_DIR, f), 16000)));
  const seconds = quick ? 20 : 60;
  const signal = new Float32Array(16000 * seconds);
  for (let o = 0, k = 0; o < signal.length; k++) {
    const p = parts[k % parts.length]!;
    signal.set(p.subarray(0, Math.min(p.length, signal.length - o)), o);
    o += p.length;
  }
  const cls = new Classifier(await loadModel(DEFAULT_MODEL_DIR));
  cls.warmUp();
  let windows = 0;
  const rt = await timeIt(
    async () => {
      const backlog = new Backlog(256);
      const queue = new BatchQueue(cls, 64);
      windows = 0;
      await lastValueFrom(classifyStream(fromSamples(signal, 16000, { pace: 'fast', gate: backlog }), { streamId: 'bench', queue, backlog }).pipe(tap(() => windows++)));
    },
    { repeats: active === 'cpu' ? 1 : 3, warmup: active === 'cpu' ? 0 : 1 },
  );
  cls.dispose();
  const f = (ms: number) => (seconds * 1000) / ms;
  return { backend: active, archs, replay: { seconds, realtimeFactor: { median: f(rt.median), min: f(rt.max), max: f(rt.min), n: rt.n }, windows } };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf('--backend');
  const backend = (i > 0 ? process.argv[i + 1] : 'wasm') as BackendChoice;
  benchInference(backend, { quick: process.argv.includes('--quick') })
    .then((r) => console.log(JSON.stringify(r)))
    .catch((e) => {
      console.log(JSON.stringify({ backend, error: (e as Error).message }));
      process.exitCode = 1;
    });
}
