/**
 * Cross-validation by package on a small synthetic set (tones, hiss, and a background of clicks in
 * 3-s stretches), with real training on WASM: every item is predicted by the one model that did not
 * train on its package, the analysis is consistent with its inputs, and saved predictions give the
 * same analysis again.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeWav } from '../../src/audio/wav.ts';
import { resolveFeatureConfig } from '../../src/config.ts';
import { buildAudioDataset } from '../../src/data/build.ts';
import type { Dataset } from '../../src/data/dataset-file.ts';
import { initBackend } from '../../src/model/backend.ts';
import { type CvResult, analyseHeldOut, crossValidate, heldOutPredictions } from '../../src/training/cv.ts';
import { readHeldOut, writeHeldOut } from '../../src/training/cv-report.ts';
import { packageFolds } from '../../src/training/folds.ts';
import { evaluatePredictions } from '../../src/training/metrics.ts';
import { DEFAULT_THRESHOLD_GRID } from '../../src/training/thresholds.ts';
import { noise, sine, tempDir } from '../helpers/fixtures.ts';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let ds: Dataset;

/** Clicks every 0.2 s over quiet noise: neither tone nor hiss. */
function clicks(seconds: number, seed: number): Float32Array {
  const x = noise(seconds, 16000, 0.01, seed);
  for (let t = 0.05 * (seed % 4); t < seconds; t += 0.2) for (let i = 0; i < 80; i++) x[Math.floor(t * 16000) + i] = 0.6 * (1 - i / 80);
  return x;
}

before(async () => {
  await initBackend('wasm', null);
  tmp = await tempDir();
  const dir = join(tmp.dir, 'clips');
  const rows = ['clip,class,package,group'];
  for (const [label, make] of [
    ['tone', (p: number, k: number) => sine(220 + 90 * p + 13 * k, 1, 16000, 0.4)],
    ['hiss', (p: number, k: number) => noise(1, 16000, 0.2 + 0.05 * p, 10 * p + k + 1)],
    ['background', (p: number, k: number) => clicks(3, 7 * p + k + 1)],
  ] as const) {
    await mkdir(join(dir, label), { recursive: true });
    for (let p = 0; p < 4; p++)
      for (let k = 0; k < 3; k++) {
        const clip = `${label}/p${p}-${k}.wav`;
        await writeWav(join(dir, clip), make(p, k), 16000);
        rows.push(`${clip},${label},pkg-${p},pkg-${p}:${label}${k}`);
      }
  }
  await writeFile(join(dir, 'manifest.csv'), `${rows.join('\n')}\n`);
  ds = await buildAudioDataset(dir, { features: resolveFeatureConfig() });
});
after(() => tmp.cleanup());

const recipe = {
  arch: 'resnet' as const,
  epochs: 2,
  batchSize: 16,
  lr: 3e-3,
  seed: 1,
  patience: 0,
  augment: null,
  sampling: 'balanced' as const,
  labelSmoothing: 0,
  lrSchedule: 'constant' as const,
  backgroundClasses: ['background'],
};

test('every item is predicted by the model of the fold that held its package out; finished folds are reused', async () => {
  assert.ok(ds.header.items.every((it) => it.package?.startsWith('pkg-')));
  const plan = packageFolds(ds, 2, 1);
  const seen = new Set<number>();
  const saved: Float32Array[][] = [];
  const cv = await crossValidate(ds, {
    plan,
    train: recipe,
    onFoldDone: async (f, _model, heldOut, probs, history) => {
      assert.equal(history.length, 2);
      assert.ok(
        history.every((h) => Number.isNaN(h.valAcc)),
        'no validation on held-out data',
      );
      for (const i of heldOut) {
        assert.ok(plan.packages[f]!.includes(ds.header.items[i]!.package!));
        assert.ok(!seen.has(i));
        seen.add(i);
      }
      saved[f] = probs;
    },
  });
  assert.equal(seen.size, ds.size);
  assert.ok(cv.probs.every((p) => p.length === 3 && Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-4));
  // resuming: the saved folds are taken as they are, nothing is trained
  const again = await crossValidate(ds, { plan, train: recipe, cached: async (f) => saved[f], onFoldStart: () => assert.fail('trained') });
  assert.deepEqual(again.probs, cv.probs);
  assert.deepEqual(again.seconds, [0, 0]);
  await checkAnalysis(cv);
});

async function checkAnalysis(cv: CvResult): Promise<void> {
  const held = heldOutPredictions(ds, cv);
  const a = analyseHeldOut(held, { backgroundClasses: ['background'], bins: 10 });
  assert.equal(a.report.n, ds.size);
  // target accuracy: tone and hiss items whose calibrated top class is right
  const targets = held.items.flatMap((it, i) => (ds.classes[it.label] === 'background' ? [] : [i]));
  const right = targets.filter((i) => {
    const p = a.calibrated[i]!;
    return p.indexOf(Math.max(...p)) === held.items[i]!.label;
  }).length;
  assert.equal(a.targets.accuracy, right / targets.length);
  assert.deepEqual(a.targets.classes, ['hiss', 'tone']);
  // closed-set macro-F1: what evaluating the target items alone gives (a background answer is a miss)
  const alone = evaluatePredictions(
    ds.classes,
    targets.map((i) => held.items[i]!.label),
    targets.map((i) => a.calibrated[i]!),
    0.4,
  );
  const f1 = (c: string) => alone.perClass[c]!.f1;
  assert.ok(Math.abs(a.targets.macroF1 - (f1('hiss') + f1('tone')) / 2) < 1e-12);
  assert.equal(a.targets.precision.tone, alone.perClass.tone!.precision);
  assert.equal(a.calibration.foldTemperatures.length, 2);
  assert.ok(a.calibration.after.bins.length === 10);
  for (const t of [...a.thresholds.perFold.flatMap((x) => Object.values(x)), ...Object.values(a.thresholds.final)])
    assert.ok(DEFAULT_THRESHOLD_GRID.includes(t));
  assert.deepEqual(Object.keys(a.thresholds.final).sort(), ['hiss', 'tone']);
  // the background clips are 12 streams of 3 s (9 windows each: 0–1 s … 2–3 s)
  assert.equal(a.falseAlarms!.streams, 12);
  assert.ok(Math.abs(a.falseAlarms!.hours - (12 * 3) / 3600) < 1e-9);
  // the saved copy gives the same analysis
  const file = join(tmp.dir, 'heldout.json.gz');
  await writeHeldOut(file, held);
  const back = await readHeldOut(file);
  assert.deepEqual(back, held);
  const b = analyseHeldOut(back, { backgroundClasses: ['background'], bins: 10 });
  assert.deepEqual(b.report, a.report);
  assert.deepEqual(b.thresholds, a.thresholds);
}
