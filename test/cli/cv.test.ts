/**
 * The honest-evaluation workflow through the real CLI: dataset build from several folders (packages
 * kept) → soundee cv (folds by package, report, plots, non-target false alarms, --resume) → soundee
 * train --no-validation --calibration (the final model carries the cross-fitted calibration, event
 * thresholds and figures).
 */
import assert from 'node:assert/strict';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeWav } from '../../src/audio/wav.ts';
import { noise, sine, tempDir, runSoundee } from '../helpers/fixtures.ts';

let tmp: Awaited<ReturnType<typeof tempDir>>;
const soundee = (...args: string[]) => runSoundee(args, { timeoutMs: 300_000 });

/** A folder of clips with a manifest giving each its package. */
async function folder(dir: string, clips: { cls: string; pkg: string; x: Float32Array }[]): Promise<void> {
  const rows = ['clip,class,package,source,offset_s,group'];
  for (const [k, c] of clips.entries()) {
    await mkdir(join(dir, c.cls), { recursive: true });
    const clip = `${c.cls}/${c.pkg}-${k}.wav`;
    await writeWav(join(dir, clip), c.x, 16000);
    rows.push(`${clip},${c.cls},${c.pkg},x.ogg,0,${c.pkg}:${k}`);
  }
  await writeFile(join(dir, 'manifest.csv'), `${rows.join('\n')}\n`);
}

before(async () => {
  tmp = await tempDir();
  const targets = [];
  for (let p = 0; p < 3; p++)
    for (let k = 0; k < 3; k++) {
      targets.push({ cls: 'tone', pkg: `t${p}`, x: sine(250 + 60 * p + 10 * k, 1, 16000, 0.4) });
      targets.push({ cls: 'hiss', pkg: `t${p}`, x: noise(1, 16000, 0.3, 10 * p + k + 1) });
    }
  await folder(join(tmp.dir, 'targets'), targets);
  const bg = [];
  for (let p = 0; p < 3; p++)
    for (let k = 0; k < 2; k++) bg.push({ cls: 'background', pkg: `b${p}`, x: sine(3000 + 200 * p, 2.5, 16000, 0.1 + 0.1 * k) });
  await folder(join(tmp.dir, 'background'), bg);
  await mkdir(join(tmp.dir, 'nontarget'));
  await writeWav(join(tmp.dir, 'nontarget', 'n.wav'), sine(3500, 6, 44100, 0.2), 44100);
});
after(() => tmp.cleanup());

test('dataset build (two folders) → cv → train --no-validation --calibration', async () => {
  const data = join(tmp.dir, 'all.sdset');
  const b = soundee('dataset', 'build', join(tmp.dir, 'targets'), join(tmp.dir, 'background'), '--out', data);
  assert.equal(b.status, 0, b.stderr);
  assert.match(b.stderr, /items per package:/);
  assert.match(b.stderr, /background +b0 \d+, b1 \d+, b2 \d+/);

  const out = join(tmp.dir, 'cv');
  const args = [
    'cv',
    data,
    '--out',
    out,
    '--folds',
    '3',
    '--epochs',
    '1',
    '--batch-size',
    '8',
    '--no-augment',
    '--nontarget',
    join(tmp.dir, 'nontarget'),
  ];
  const cv = soundee(...args);
  assert.equal(cv.status, 0, cv.stderr);
  assert.match(cv.stderr, /3 folds \(packages grouped\)/);
  assert.match(cv.stderr, /fold 3\/3 epoch 1\/1: loss/);
  assert.match(cv.stdout, /target classes \(2\), their 18 windows: accuracy [\d.]+% {3}macro-F1 [\d.]+/);
  assert.match(cv.stdout, /calibration: ECE [\d.]+ \(15 bins\)/);
  assert.match(
    cv.stdout,
    /non-target recordings \(--nontarget\): [\d.]+ false alarms per hour \(\d+ event starts in 0\.005 h, 3 streams\)/,
  );
  for (const f of [
    'cv-report.json',
    'cv-report.txt',
    'heldout.json.gz',
    'confusion.png',
    'reliability.png',
    'folds/1/model.json',
    'folds/3/heldout.json',
  ])
    await access(join(out, f));
  const report = JSON.parse(await readFile(join(out, 'cv-report.json'), 'utf8'));
  assert.equal(report.format, 'soundee-cv-report');
  assert.deepEqual(report.run.backgroundClasses, ['background']);
  assert.deepEqual(report.run.folds.packages.flat().sort(), ['b0', 'b1', 'b2', 't0', 't1', 't2']);
  assert.equal(report.allClasses.n, 18 + 6 * 7);
  assert.equal(report.falseAlarms.nontarget.streams, 3, 'each of the 3 fold models replays the one recording');

  // --resume: the finished folds are reused, not trained again, and the figures are the same
  const again = soundee(...args, '--resume');
  assert.equal(again.status, 0, again.stderr);
  assert.equal((again.stderr.match(/reusing/g) ?? []).length, 3);
  assert.doesNotMatch(again.stderr, /epoch 1\/1/);
  const report2 = JSON.parse(await readFile(join(out, 'cv-report.json'), 'utf8'));
  assert.deepEqual(report2.headline, report.headline);

  const model = join(tmp.dir, 'final');
  const t = soundee(
    'train',
    '--data',
    data,
    '--out',
    model,
    '--epochs',
    '1',
    '--batch-size',
    '8',
    '--no-augment',
    '--no-validation',
    '--calibration',
    join(out, 'cv-report.json'),
  );
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stderr, /60 items \(all splits, no validation: the last epoch is kept\)/);
  const meta = JSON.parse(await readFile(join(model, 'metadata.json'), 'utf8'));
  assert.deepEqual(meta.backgroundClasses, ['background']);
  assert.equal(meta.calibration.temperature, report.calibration.temperature);
  assert.deepEqual(meta.eventThresholds, report.thresholds.final);
  assert.equal(meta.evaluation.crossValidation.accuracy, report.headline.accuracy);
  assert.equal(meta.training.validation, false);

  const bad = soundee('train', '--data', data, '--out', model, '--calibration', join(tmp.dir, 'targets', 'manifest.csv'));
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--calibration/);
});
