/** The capstone workflow through the real CLI: dataset build → train → evaluate --json → predict. */
import assert from 'node:assert/strict';
import { access, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeWav } from '../../src/audio/wav.ts';
import { fixture, noise, sine, tempDir, runSoundee } from '../helpers/fixtures.ts';

let tmp: Awaited<ReturnType<typeof tempDir>>;
const soundee = (...args: string[]) => runSoundee(args, { timeoutMs: 120_000 });

before(async () => {
  tmp = await tempDir();
  for (let g = 0; g < 5; g++) {
    await mkdir(join(tmp.dir, 'clips', 'tone'), { recursive: true });
    await mkdir(join(tmp.dir, 'clips', 'hiss'), { recursive: true });
    await writeWav(join(tmp.dir, 'clips', 'tone', `tone-${g}.wav`), sine(250 + 40 * g, 1, 16000, 0.4), 16000);
    await writeWav(join(tmp.dir, 'clips', 'hiss', `hiss-${g}.wav`), noise(1, 16000, 0.3, g + 1), 16000);
  }
});
after(() => tmp.cleanup());

test('dataset build → train → evaluate --json → predict', async () => {
  const data = join(tmp.dir, 'd.sdset');
  const csv = join(tmp.dir, 'split.csv');
  const b = soundee('dataset', 'build', join(tmp.dir, 'clips'), '--out', data, '--split-csv', csv, '--split', '6:2:2');
  assert.equal(b.status, 0, b.stderr);
  assert.match(b.stderr, /wrote .*d\.sdset \(10 items, 2 classes\)/);
  assert.equal((await readFile(csv, 'utf8')).trim().split('\n').length, 11);

  const model = join(tmp.dir, 'model');
  const t = soundee(
    'train',
    '--data',
    data,
    '--arch',
    'resnet',
    '--out',
    model,
    '--epochs',
    '2',
    '--batch-size',
    '4',
    '--quantize',
    'float16',
  );
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stderr, /epoch 2\/2: loss [\d.]+ acc [\d.]+ \| val loss [\d.]+ val acc [\d.]+/);
  for (const f of ['model.json', 'weights.bin', 'metadata.json', 'training-curves.png', 'history.json', 'evaluation.json', 'confusion.png'])
    await access(join(model, f));
  const meta = JSON.parse(await readFile(join(model, 'metadata.json'), 'utf8'));
  assert.deepEqual(meta.classes, ['hiss', 'tone']);
  assert.equal(meta.weights.dtype, 'float16');
  assert.equal(typeof meta.evaluation.accuracy, 'number');

  const e = soundee('evaluate', data, '--model', model, '--json', '--split', 'all');
  assert.equal(e.status, 0, e.stderr);
  const rep = JSON.parse(e.stdout);
  for (const k of ['accuracy', 'macroF1', 'perClass', 'confusion', 'classes', 'unknownShare']) assert.ok(k in rep, k);
  assert.equal(rep.n, 10);
  assert.equal(
    rep.confusion.flat().reduce((a: number, b: number) => a + b, 0),
    10,
  );
  const ef = soundee('evaluate', join(tmp.dir, 'clips'), '--model', model, '--json');
  assert.equal(ef.status, 0, ef.stderr);
  assert.equal(JSON.parse(ef.stdout).n, 10);

  const p = soundee('predict', join(tmp.dir, 'clips', 'tone', 'tone-0.wav'), fixture('not-a-wav.wav'), '--model', model, '--json');
  assert.equal(p.status, 1, 'a failed file makes the exit status 1');
  const [ok, bad] = p.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.ok(['tone', 'hiss', 'unknown'].includes(ok.label));
  assert.match(bad.error, /not a WAV file/);
  const cannot = soundee('predict', join(tmp.dir, 'clips', 'tone', 'tone-0.wav'), '--model', model, '--threshold', '1');
  assert.match(cannot.stdout, /tone-0\.wav: cannot tell \(maybe (tone|hiss)\)/);
});
