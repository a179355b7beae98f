/**
 * The bundled model: it runs on the default feature config (no train/serve drift), and the report
 * committed beside it is true — rebuilding the ambient set's held-out test split (when
 * ../shared/datasets/ambient is there, as in CI) and evaluating gives the committed figures exactly.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { diffFeatureConfig, resolveFeatureConfig } from '../../src/config.ts';
import { buildAudioDataset } from '../../src/data/build.ts';
import { initBackend } from '../../src/model/backend.ts';
import { Classifier } from '../../src/model/classifier.ts';
import { evaluateOnDataset, probeSilenceShortcut } from '../../src/training/evaluate.ts';
import { loadModel } from '../../src/model/io.ts';
import { DEFAULT_MODEL_DIR } from '../../src/paths.ts';
import { REPO_ROOT } from '../helpers/fixtures.ts';

const AMBIENT = join(REPO_ROOT, '..', 'shared', 'datasets', 'ambient');

test('the bundled model is trained, uses the default feature config and carries its report', async () => {
  await initBackend('wasm', null);
  const { model, metadata } = await loadModel(DEFAULT_MODEL_DIR);
  model.dispose();
  assert.deepEqual(diffFeatureConfig(metadata.features, resolveFeatureConfig()), []);
  assert.deepEqual(metadata.classes, ['birds', 'engine', 'fire', 'insects', 'rain', 'speech', 'water', 'wind']);
  assert.ok(metadata.training, 'metadata records how it was trained');
  for (const f of ['training-curves.png', 'confusion.png', 'evaluation.json', 'evaluation.txt', 'history.json'])
    assert.ok(existsSync(join(DEFAULT_MODEL_DIR, f)), f);
});

test('its committed evaluation is what evaluating it on the rebuilt held-out test split gives', {
  skip: existsSync(AMBIENT) ? false : `${AMBIENT} not found`,
}, async () => {
  await initBackend('wasm', null);
  const committed = JSON.parse(await readFile(join(DEFAULT_MODEL_DIR, 'evaluation.json'), 'utf8')) as {
    n: number;
    accuracy: number;
    macroF1: number;
    confusion: number[][];
  };
  const cls = new Classifier(await loadModel(DEFAULT_MODEL_DIR));
  try {
    // the default split (seed 42, 7:2:1 by group); extra training folders never change it
    const ds = await buildAudioDataset(AMBIENT, { features: cls.features });
    const { report } = await evaluateOnDataset(cls, ds, 'test');
    assert.equal(report.n, committed.n);
    assert.deepEqual(report.confusion, committed.confusion);
    assert.equal(report.accuracy, committed.accuracy);
    assert.equal(report.macroF1, committed.macroF1);
    // the digital-silence shortcut of the speech clips is closed: zeroing the last 250 ms of other
    // classes' clips barely ever turns them into speech (the capstone recipe: 46–79 %)
    const probe = await probeSilenceShortcut(cls, ds);
    assert.ok(probe.afterZeros <= probe.before + 0.05, `zero tail → speech ${probe.afterZeros} (before ${probe.before})`);
  } finally {
    cls.dispose();
  }
});
