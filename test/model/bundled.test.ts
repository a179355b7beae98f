/**
 * The bundled model and the figures committed beside it.
 *
 * - It runs on the default feature config (no train/serve drift), knows the eight classes and a
 *   background class, and carries the calibration and event thresholds its cross-validation fitted.
 * - Its cross-validation report is what its saved held-out predictions give: the analysis (calibration
 *   cross-fitted per fold, metrics, thresholds, false alarms on held-out background clips) is re-run
 *   from `heldout.json.gz` and must give every committed figure again.
 * - On the ambient set's clips (../shared/datasets/ambient, present in CI), which it trained on, it gives
 *   exactly the committed figures (`ambient-evaluation.json`): the weights, the feature path and the
 *   data are the ones the report was made with. And the digital-silence shortcut stays closed.
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
import { loadModel } from '../../src/model/io.ts';
import { DEFAULT_MODEL_DIR } from '../../src/paths.ts';
import { analyseHeldOut } from '../../src/training/cv.ts';
import { type CvReport, cvReport, readCvReport, readHeldOut } from '../../src/training/cv-report.ts';
import { evaluateOnDataset, probeSilenceShortcut } from '../../src/training/evaluate.ts';
import { REPO_ROOT } from '../helpers/fixtures.ts';

const AMBIENT = join(REPO_ROOT, '..', 'shared', 'datasets', 'ambient');
const TARGETS = ['birds', 'engine', 'fire', 'insects', 'rain', 'speech', 'water', 'wind'];

test('the bundled model: default features, the eight classes and background, calibrated with its cross-validation', async () => {
  await initBackend('wasm', null);
  const { model, metadata } = await loadModel(DEFAULT_MODEL_DIR);
  model.dispose();
  const report = await readCvReport(join(DEFAULT_MODEL_DIR, 'cv-report.json'));
  assert.deepEqual(diffFeatureConfig(metadata.features, resolveFeatureConfig()), []);
  assert.deepEqual(metadata.classes, ['background', ...TARGETS]);
  assert.deepEqual(metadata.backgroundClasses, ['background']);
  assert.deepEqual(report.allClasses.classes, metadata.classes);
  // the final model is the cross-validated recipe, trained on every item, with what the report fitted
  assert.equal((metadata.training as { validation: boolean }).validation, false);
  const options = { ...(metadata.training as { options: Record<string, unknown> }).options };
  delete options.patience;
  assert.deepEqual(JSON.parse(JSON.stringify(options)), JSON.parse(JSON.stringify(report.run.recipe)));
  assert.equal(metadata.calibration?.temperature, report.calibration.temperature);
  assert.deepEqual(metadata.eventThresholds, report.thresholds.final);
  assert.deepEqual(Object.keys(metadata.eventThresholds ?? {}).sort(), TARGETS);
  const cv = (metadata.evaluation as { crossValidation: Record<string, unknown> }).crossValidation;
  for (const k of ['accuracy', 'macroF1', 'ece', 'falseAlarmsPerHour', 'nontargetFalseAlarmsPerHour'] as const)
    assert.equal(cv[k], report.headline[k], k);
  for (const f of ['training-curves.png', 'confusion.png', 'reliability.png', 'cv-report.txt', 'heldout.json.gz', 'false-alarms.json'])
    assert.ok(existsSync(join(DEFAULT_MODEL_DIR, f)), f);
});

test('its cross-validation report is what its saved held-out predictions give', async () => {
  const committed: CvReport = await readCvReport(join(DEFAULT_MODEL_DIR, 'cv-report.json'));
  const heldOut = await readHeldOut(join(DEFAULT_MODEL_DIR, 'heldout.json.gz'));
  // every item predicted once, by a model whose training left out the item's package
  const foldOfPackage = new Map<string, number>();
  for (const it of heldOut.items) {
    assert.equal(foldOfPackage.get(it.package) ?? it.fold, it.fold, `package ${it.package} in one fold`);
    foldOfPackage.set(it.package, it.fold);
    assert.ok(committed.run.folds.packages[it.fold]!.includes(it.package));
  }
  const analysis = analyseHeldOut(heldOut, {
    backgroundClasses: committed.run.backgroundClasses,
    bins: committed.calibration.bins,
    falseAlarmsPerHour: committed.thresholds.falseAlarmsPerHour,
  });
  const again = cvReport(committed.run, heldOut, analysis, committed.falseAlarms.nontarget);
  // JSON round trip: the committed file holds what JSON can (NaN of empty bins becomes null)
  const json = (x: unknown) => JSON.parse(JSON.stringify(x));
  assert.deepEqual(json(again.headline), json(committed.headline));
  assert.deepEqual(json(again.allClasses), json(committed.allClasses));
  assert.deepEqual(json(again.calibration), json(committed.calibration));
  assert.deepEqual(json(again.thresholds), json(committed.thresholds));
  assert.deepEqual(json(again.falseAlarms.backgroundClips), json(committed.falseAlarms.backgroundClips));
  assert.deepEqual(json(again.perPackage), json(committed.perPackage));
});

test('on the ambient clips it trained on it gives the committed figures, and zeros do not mean speech', {
  skip: existsSync(AMBIENT) ? false : `${AMBIENT} not found`,
}, async () => {
  await initBackend('wasm', null);
  const committed = JSON.parse(await readFile(join(DEFAULT_MODEL_DIR, 'ambient-evaluation.json'), 'utf8')) as {
    n: number;
    accuracy: number;
    confusion: number[][];
  };
  const cls = new Classifier(await loadModel(DEFAULT_MODEL_DIR));
  try {
    const ds = await buildAudioDataset(AMBIENT, { features: cls.features });
    const { report } = await evaluateOnDataset(cls, ds, 'all');
    assert.equal(report.n, committed.n);
    assert.deepEqual(report.confusion, committed.confusion);
    assert.equal(report.accuracy, committed.accuracy);
    // the digital-silence shortcut of the speech clips is closed: zeroing the last 250 ms of other
    // classes' clips barely ever turns them into speech (the capstone recipe: 46–79 %)
    const probe = await probeSilenceShortcut(cls, ds, { split: 'train' });
    assert.ok(probe.afterZeros <= probe.before + 0.05, `zero tail → speech ${probe.afterZeros} (before ${probe.before})`);
  } finally {
    cls.dispose();
  }
});
