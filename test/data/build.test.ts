import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { writeWav } from '../../src/audio/wav.ts';
import { resolveFeatureConfig } from '../../src/config.ts';
import { buildAudioDataset, importImageDataset, splitCsv } from '../../src/data/build.ts';
import { readDataset, writeDataset } from '../../src/data/dataset-file.ts';
import { labelFromFileName } from '../../src/data/scan.ts';
import { frameSignal } from '../../src/features/framer.ts';
import { renderWindowImage } from '../../src/features/render.ts';
import { fixture, noise, sine, tempDir } from '../helpers/fixtures.ts';

let tmp: Awaited<ReturnType<typeof tempDir>>;
const c = resolveFeatureConfig();
before(async () => {
  tmp = await tempDir();
  // class folders; 6 recordings ("groups") of 2 clips each per class, plus one broken file
  for (const [label, make] of [
    ['hum', (k: number) => sine(200 + 20 * k, 1)],
    ['hiss', (k: number) => noise(1, 16000, 0.3, k + 1)],
  ] as const) {
    await mkdir(join(tmp.dir, 'folders', label), { recursive: true });
    const rows: string[] = [];
    for (let g = 0; g < 6; g++)
      for (let w = 0; w < 2; w++) {
        const clip = `${label}/${label}_rec${g}_w${w}.wav`;
        await writeWav(join(tmp.dir, 'folders', clip), make(g * 2 + w), 16000);
        rows.push(`${clip},${label},rec${label}${g}`);
      }
    await writeFile(join(tmp.dir, 'folders', `${label}.rows`), rows.join('\n'));
  }
  const manifest = [
    'clip,class,group',
    ...(await Promise.all(['hum', 'hiss'].map((l) => readFile(join(tmp.dir, 'folders', `${l}.rows`), 'utf8')))),
  ].join('\n');
  await writeFile(join(tmp.dir, 'folders', 'manifest.csv'), `${manifest}\n`);
  await copyFile(fixture('not-a-wav.wav'), join(tmp.dir, 'folders', 'hum', 'broken.wav'));
  // capstone-style flat folder: drop-1.wav, drop-2.wav, knock-1.wav … (one 2.5 s clip: several windows; one short clip: padded)
  await mkdir(join(tmp.dir, 'flat'));
  await writeWav(join(tmp.dir, 'flat', 'drop-1.wav'), sine(300, 2.5), 16000);
  await writeWav(join(tmp.dir, 'flat', 'drop-2.wav'), sine(320, 0.4), 44100);
  await writeWav(join(tmp.dir, 'flat', 'knock-1.wav'), noise(1), 16000);
  await writeWav(join(tmp.dir, 'flat', 'unlabelled.wav'), noise(1), 16000);
});
after(() => tmp.cleanup());

test("the capstone's file-name rule", () => {
  assert.equal(labelFromFileName('drop-4.png'), 'drop');
  assert.equal(labelFromFileName('door-knock-12.wav'), 'door-knock');
  assert.equal(labelFromFileName('nolabel.wav'), undefined);
});

test('builds from class folders with a manifest: groups stay together, bad clips reported, images = the feature path', async () => {
  const ds = await buildAudioDataset(join(tmp.dir, 'folders'), { features: c, seed: 7 });
  assert.deepEqual(ds.classes, ['hiss', 'hum']);
  assert.equal(ds.size, 24);
  assert.deepEqual(
    ds.header.skipped.map((s) => s.clip),
    ['hum/broken.wav'],
  );
  assert.match(ds.header.skipped[0]!.reason, /not a WAV file/);
  const splitOf = new Map<string, string>();
  for (const it of ds.header.items) {
    assert.equal(splitOf.get(it.group) ?? it.split, it.split, `group ${it.group} in one split`);
    splitOf.set(it.group, it.split);
  }
  for (const s of ['train', 'valid', 'test'] as const) assert.ok(ds.indices(s).length > 0, `${s} not empty`);
  // the stored image is exactly what the one feature path renders from the stored audio
  const i = ds.indices('test')[0]!;
  const [w] = frameSignal(ds.samples(i), c);
  assert.deepEqual(ds.image(i), await renderWindowImage(w!, c));
  const csv = splitCsv(ds).trim().split('\n');
  assert.equal(csv[0], 'clip,window,label,group,split');
  assert.equal(csv.length, 25);
  await assert.rejects(buildAudioDataset(join(tmp.dir, 'folders'), { features: c, onError: 'fail' }), { code: 'ERR_WAV_INVALID' });
});

test('builds from name-N files: long clips give several windows, short ones are padded, unlabelled ones reported', async () => {
  const ds = await buildAudioDataset(join(tmp.dir, 'flat'), { features: c });
  assert.deepEqual(ds.classes, ['drop', 'knock']);
  const windows = (clip: string) => ds.header.items.filter((it) => it.clip === clip).length;
  assert.equal(windows('drop-1.wav'), 7); // 2.5 s: windows at 0, 0.25 … 1.5 s
  assert.equal(windows('drop-2.wav'), 1);
  assert.equal(windows('knock-1.wav'), 1);
  assert.deepEqual(
    ds.header.skipped.map((s) => s.clip),
    ['unlabelled.wav'],
  );
});

test('extra training folders go to train only and leave the primary split unchanged; foreign classes are refused', async () => {
  const primary = await buildAudioDataset(join(tmp.dir, 'folders'), { features: c, seed: 7 });
  await mkdir(join(tmp.dir, 'extra', 'hum'), { recursive: true });
  await writeWav(join(tmp.dir, 'extra', 'hum', 'other.wav'), sine(250, 2), 16000);
  const ds = await buildAudioDataset(join(tmp.dir, 'folders'), { features: c, seed: 7, extraTrain: [join(tmp.dir, 'extra')] });
  const extra = ds.header.items.filter((it) => it.clip.startsWith('extra1:'));
  assert.equal(extra.length, 5); // 2 s: windows at 0 … 1 s
  assert.ok(extra.every((it) => it.split === 'train' && it.group === 'extra1:hum/other.wav' && ds.classes[it.label] === 'hum'));
  const key = (it: { clip: string; window: number; split: string }) => `${it.clip}#${it.window}:${it.split}`;
  assert.deepEqual(ds.header.items.filter((it) => !it.clip.startsWith('extra1:')).map(key), primary.header.items.map(key));
  assert.deepEqual(ds.classes, primary.classes);
  await mkdir(join(tmp.dir, 'extra2', 'bark'), { recursive: true });
  await writeWav(join(tmp.dir, 'extra2', 'bark', 'x.wav'), noise(1), 16000);
  await assert.rejects(
    buildAudioDataset(join(tmp.dir, 'folders'), { features: c, extraTrain: [join(tmp.dir, 'extra2')] }),
    /bark are not in/,
  );
});

test('dataset file round-trips; other files are refused clearly', async () => {
  const ds = await buildAudioDataset(join(tmp.dir, 'folders'), { features: c });
  const path = join(tmp.dir, 'd.sdset');
  await writeDataset(path, ds);
  const back = await readDataset(path);
  assert.deepEqual(back.header, JSON.parse(JSON.stringify(ds.header)));
  assert.deepEqual(back.images, ds.images);
  assert.deepEqual(back.audio, ds.audio);
  await assert.rejects(readDataset(fixture('not-a-wav.wav')), { code: 'ERR_DATASET', message: /not a Soundee dataset/ });
  const bytes = await readFile(path);
  await writeFile(join(tmp.dir, 'cut.sdset'), bytes.subarray(0, bytes.length - 100));
  await assert.rejects(readDataset(join(tmp.dir, 'cut.sdset')), { code: 'ERR_DATASET', message: /truncated/ });
});

test('import-images resizes to 32×32 keeping three channels (RGBA and grey inputs too)', async () => {
  const dir = join(tmp.dir, 'images');
  await mkdir(join(dir, 'red'), { recursive: true });
  await mkdir(join(dir, 'blue'), { recursive: true });
  for (let k = 0; k < 3; k++) {
    await sharp({ create: { width: 64, height: 48, channels: 4, background: { r: 200, g: 10, b: 10, alpha: 1 } } })
      .png()
      .toFile(join(dir, 'red', `r${k}.png`));
    await sharp({ create: { width: 20, height: 20, channels: 3, background: { r: 10, g: 10, b: 220 } } })
      .png()
      .toFile(join(dir, 'blue', `b${k}.png`));
  }
  await writeFile(join(dir, 'blue', 'bad.png'), 'not an image');
  const ds = await importImageDataset(dir, { imageSize: 32 });
  assert.equal(ds.header.kind, 'images');
  assert.equal(ds.size, 6);
  assert.equal(ds.header.skipped.length, 1);
  const red = ds.image(ds.header.items.findIndex((it) => ds.classes[it.label] === 'red'));
  assert.equal(red.length, 32 * 32 * 3);
  assert.deepEqual([...red.subarray(0, 3)], [200, 10, 10]);
});
