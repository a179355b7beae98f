/**
 * `predict`, `evaluate` and `dataset build` on folders and files as users have them: the level gate of
 * replay and listen (3 s of digital silence is quiet, not a class), symbolic links followed (files and
 * class folders, loops guarded, broken links reported), the split-leakage warning without a manifest,
 * and long files read as a stream. The real binary, a tiny untrained model.
 */
import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { encodeWav, writeWav } from '../../src/audio/wav.ts';
import { scanClips } from '../../src/data/scan.ts';
import { noise, sine, tempDir, writeTinyModel, runSoundee } from '../helpers/fixtures.ts';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let model: string;
const soundee = (...args: string[]) => runSoundee(args, { timeoutMs: 120_000 });

before(async () => {
  tmp = await tempDir();
  model = join(tmp.dir, 'model');
  await writeTinyModel(model, ['hiss', 'tone']);
});
after(() => tmp.cleanup());

test('predict: 3 s of digital silence is quiet (the level gate of replay and listen), not a class', async () => {
  const silence = join(tmp.dir, 'silence.wav');
  await writeWav(silence, new Float32Array(3 * 16000), 16000);
  const json = soundee('predict', silence, '--model', model, '--json');
  assert.equal(json.status, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), { file: silence, label: 'unknown', quiet: true, windows: 9, gatedWindows: 9 });
  const table = soundee('predict', silence, '--model', model);
  assert.match(table.stdout, /silence\.wav: quiet \(every window under -60 dBFS: nothing heard\)/);
  // a loud file with a silent second: the quiet windows are left out of its mean
  const mixed = join(tmp.dir, 'mixed.wav');
  const x = new Float32Array(3 * 16000);
  x.set(noise(2, 16000, 0.3, 5));
  await writeWav(mixed, x, 16000);
  const m = JSON.parse(soundee('predict', mixed, '--model', model, '--json').stdout) as {
    windows: number;
    gatedWindows: number;
    label: string;
  };
  assert.equal(m.windows, 9);
  assert.equal(m.gatedWindows, 1, 'the one window wholly in the silence');
  assert.notEqual(m.label, undefined);
});

test('evaluate follows symlinked files and class folders, guards loops, reports broken links and gated windows', async () => {
  const store = join(tmp.dir, 'store');
  const data = join(tmp.dir, 'linked');
  await mkdir(join(store, 'hiss'), { recursive: true });
  await mkdir(join(store, 'tone'), { recursive: true });
  await mkdir(join(data, 'hiss'), { recursive: true });
  for (let g = 0; g < 3; g++) {
    await writeWav(join(store, 'hiss', `h${g}.wav`), noise(1, 16000, 0.3, g + 1), 16000);
    await writeWav(join(store, 'tone', `t${g}.wav`), sine(300 + 50 * g, 1, 16000, 0.4), 16000);
    // a folder of symlinked WAVs
    await symlink(join(store, 'hiss', `h${g}.wav`), join(data, 'hiss', `h${g}.wav`));
  }
  await symlink(join(store, 'tone'), join(data, 'tone')); // a symlinked class folder
  await symlink(data, join(data, 'hiss', 'loop')); // a loop: not entered twice
  await symlink(join(store, 'gone.wav'), join(data, 'hiss', 'broken.wav')); // a broken link: reported
  await writeWav(join(store, 'tone', 'silent.wav'), new Float32Array(16000), 16000); // gated, not scored

  const scan = await scanClips(data);
  assert.deepEqual(
    scan.clips.map((c) => c.clip),
    ['hiss/h0.wav', 'hiss/h1.wav', 'hiss/h2.wav', 'tone/silent.wav', 'tone/t0.wav', 'tone/t1.wav', 'tone/t2.wav'],
  );
  assert.deepEqual(
    scan.problems.map((p) => [p.clip, p.reason.split(' (')[0]]),
    [
      ['hiss/broken.wav', 'broken symbolic link'],
      ['hiss/loop', 'symbolic link loop'],
    ],
  );

  const e = soundee('evaluate', data, '--model', model, '--json');
  assert.equal(e.status, 0, e.stderr);
  const rep = JSON.parse(e.stdout) as {
    n: number;
    gated: { windows: number; clips: number; silenceDb: number };
    skipped: { clip: string }[];
  };
  assert.equal(rep.n, 6, 'six loud clips scored, one window each');
  assert.deepEqual(rep.gated, { windows: 1, clips: 1, silenceDb: -60 });
  assert.deepEqual(rep.skipped.map((s) => s.clip).sort(), ['hiss/broken.wav', 'hiss/loop']);
  const table = soundee('evaluate', data, '--model', model);
  assert.match(table.stdout, /gated: 1 window quieter than -60 dBFS not scored \(1 clip entirely\)/);

  // dataset build reads the same links, and warns that without a manifest the split is clip by clip
  const b = soundee('dataset', 'build', data, '--out', join(tmp.dir, 'linked.sdset'));
  assert.equal(b.status, 0, b.stderr);
  assert.match(b.stderr, /wrote .*linked\.sdset \(7 items, 2 classes\)/);
  assert.match(b.stderr, /warning: .* has no manifest\.csv, so each clip is its own group and the split is clip by clip/);
  assert.match(b.stderr, /hiss\/broken\.wav: broken symbolic link/);
  await writeFile(join(data, 'manifest.csv'), 'clip,class,group\n');
  assert.doesNotMatch(soundee('dataset', 'build', data, '--out', join(tmp.dir, 'm.sdset')).stderr, /no manifest\.csv/);
});

test('a long file is streamed by predict: 2 minutes of 48 kHz stereo give its 477 windows', async () => {
  const rate = 48000;
  const seconds = 120;
  const x = new Float32Array(seconds * rate * 2);
  const n = noise(1, rate, 0.3, 9);
  for (let i = 0; i < x.length; i++) x[i] = n[i % n.length]!;
  const path = join(tmp.dir, 'long.wav');
  await writeFile(path, encodeWav(x, rate, { channels: 2 }));
  const p = soundee('predict', path, '--model', model, '--json');
  assert.equal(p.status, 0, p.stderr);
  assert.equal((JSON.parse(p.stdout) as { windows: number }).windows, (seconds * 16000 - 16000) / 4000 + 1);
});
