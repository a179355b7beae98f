/**
 * A real learning run, in seconds: the bundled model learns "beep" (tone bursts: a sound none of its
 * classes is) from four synthetic recordings, against a bank of negatives computed from four of the
 * bundled samples. The new class must win on beep recordings it never saw, the old classes must keep
 * their answers on all eight samples, the saved directory must reload with its metadata, and --list,
 * --remove and the errors must behave.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { loadAudio } from '../../src/audio/wav-reader.ts';
import { writeWav } from '../../src/audio/wav.ts';
import { resolveFeatureConfig } from '../../src/config.ts';
import { frameSignal } from '../../src/features/framer.ts';
import { renderWindowImages } from '../../src/features/render.ts';
import { eventSettingsFor } from '../../src/cli/event-options.ts';
import { BANK_BIN, BANK_JSON, readBank } from '../../src/learn/bank.ts';
import { finalDense } from '../../src/learn/embed.ts';
import { buildBank, learnClass, listClasses, removeClass } from '../../src/learn/model-dir.ts';
import { initBackend } from '../../src/model/backend.ts';
import { Classifier } from '../../src/model/classifier.ts';
import { loadModel } from '../../src/model/io.ts';
import { DEFAULT_MODEL_DIR } from '../../src/paths.ts';
import { REPO_ROOT, noise, tempDir } from '../helpers/fixtures.ts';

const SR = 16000;
const SAMPLES = ['birds', 'engine', 'fire', 'insects', 'rain', 'speech', 'water', 'wind'];
/** The bundled model's classes: a background class ("none of these") and the eight of the samples. */
const BUNDLED = ['background', ...SAMPLES];

/** Tone bursts: `freqHz` on for `onMs`, off for `offMs`, over `seconds`, with a little noise under them. */
function beeps(freqHz: number, onMs: number, offMs: number, seconds: number, seed: number): Float32Array {
  const n = Math.round(seconds * SR);
  const hiss = noise(seconds, SR, 0.003, seed);
  const period = ((onMs + offMs) / 1000) * SR;
  const on = (onMs / 1000) * SR;
  return Float32Array.from({ length: n }, (_, i) => (i % period < on ? 0.4 * Math.sin((2 * Math.PI * freqHz * i) / SR) : 0) + hiss[i]!);
}

let tmp: Awaited<ReturnType<typeof tempDir>>;
let banked: string;
let learned: string;
const examples: string[] = [];

/** Probabilities of a model directory for every window of some recordings. */
async function probabilities(dir: string, files: readonly string[]): Promise<{ classes: readonly string[]; probs: Float32Array[] }> {
  const cls = new Classifier(await loadModel(dir));
  try {
    const probs: Float32Array[] = [];
    for (const f of files) {
      const w = frameSignal(await loadAudio(f, SR), cls.features);
      probs.push(...cls.classify(await renderWindowImages(w, cls.features)).map((r) => r.probabilities));
    }
    return { classes: cls.classes, probs };
  } finally {
    cls.dispose();
  }
}

const sample = (name: string) => join(REPO_ROOT, 'samples', `${name}.wav`);

before(async () => {
  await initBackend('wasm', null);
  tmp = await tempDir();
  await mkdir(join(tmp.dir, 'beeps'));
  // four recordings of the sound: different pitch, rhythm and length (one shorter than a window)
  const takes: [number, number, number, number][] = [
    [900, 120, 80, 2],
    [1000, 100, 100, 1.5],
    [1100, 150, 100, 2.5],
    [950, 90, 110, 0.6],
  ];
  for (const [k, [f, on, off, s]] of takes.entries()) {
    const p = join(tmp.dir, 'beeps', `beep${k}.wav`);
    await writeWav(p, beeps(f, on, off, s, k + 1), SR);
    examples.push(p);
  }
  // the bank: the first two seconds of each bundled sample (five windows each). Without speech in it,
  // beeps (harmonic tones with gaps) take most speech windows: the bank is what keeps a new class in its place
  await mkdir(join(tmp.dir, 'bank'));
  for (const name of SAMPLES)
    await writeWav(join(tmp.dir, 'bank', `${name}.wav`), (await loadAudio(sample(name), SR)).subarray(0, 2 * SR), SR);
  banked = join(tmp.dir, 'banked');
  await buildBank(DEFAULT_MODEL_DIR, banked, [join(tmp.dir, 'bank')]);
  learned = join(tmp.dir, 'with-beep');
});
after(() => tmp.cleanup());

test('a bank of negatives is computed with the trunk and written beside an unchanged model', async () => {
  const bank = await readBank(banked);
  assert.ok(bank, 'the bank files exist');
  assert.equal(bank.header.sources[0]!.windows, bank.header.count);
  // 8 clips × 5 windows (2 s at 250 ms hops)
  assert.equal(bank.header.count, 40);
  assert.equal(bank.emb.length, bank.header.count * bank.header.dims);
  const a = await readFile(join(DEFAULT_MODEL_DIR, 'weights.bin'));
  const b = await readFile(join(banked, 'weights.bin'));
  assert.ok(a.equals(b), 'the network is copied bit for bit');
});

test('learns a new sound from four recordings; it wins on recordings it never heard and the old classes keep their answers', async () => {
  const r = await learnClass({ model: banked, out: learned, label: 'beep', examples });
  assert.deepEqual(r.classes, [...BUNDLED, 'beep']);
  assert.equal(r.bank, 40);
  assert.deepEqual(r.padded, ['beep3.wav']);
  assert.equal(r.record.examples.files.length, 4);
  assert.ok(r.record.check.examplesOnTop > 0.9, `on top for ${r.record.check.examplesOnTop} of the examples' windows`);
  // learned without each take in turn, it still recognises every take (they are the same kind of sound)
  const loo = r.record.check.heldOutTakes!;
  assert.equal(loo.of, 4);
  assert.equal(loo.recognised, 4, JSON.stringify(loo));

  // held-out recordings of the sound: other pitches and rhythms
  const held = [
    [1050, 110, 90, 3],
    [870, 140, 60, 3],
  ].map(([f, on, off, s], k) => ({ path: join(tmp.dir, `held${k}.wav`), x: beeps(f!, on!, off!, s!, 10 + k) }));
  for (const h of held) await writeWav(h.path, h.x, SR);
  const beep = await probabilities(
    learned,
    held.map((h) => h.path),
  );
  const k = beep.classes.indexOf('beep');
  const won = beep.probs.filter((p) => p.indexOf(Math.max(...p)) === k).length / beep.probs.length;
  assert.ok(won >= 0.8, `beep is the top class for ${(100 * won).toFixed(0)} % of the held-out windows`);

  // the eight samples: same top class as before in (nearly) every window, the new class takes little
  const files = SAMPLES.map(sample);
  const before = await probabilities(DEFAULT_MODEL_DIR, files);
  const afterwards = await probabilities(learned, files);
  let same = 0;
  let taken = 0;
  before.probs.forEach((p, i) => {
    const q = afterwards.probs[i]!;
    if (p.indexOf(Math.max(...p)) === q.indexOf(Math.max(...q))) same++;
    taken += q[k]! / before.probs.length;
    // the original classes keep their relative probabilities: q_j = p_j · (1 − q_new)
    for (let j = 0; j < p.length; j++) assert.ok(Math.abs(q[j]! - p[j]! * (1 - q[k]!)) < 2e-3, `window ${i} class ${j}`);
  });
  assert.ok(same / before.probs.length >= 0.95, `${same} of ${before.probs.length} windows keep their top class`);
  assert.ok(taken < 0.05, `the new class takes ${taken.toFixed(3)} of the samples' probability on average`);
});

test('the leave-one-out check tells a take of another sound: learned from the others, it is not recognised', async () => {
  // three takes of the beeps and, by mistake, two seconds of the engine sample
  const odd = join(tmp.dir, 'odd-engine.wav');
  await writeWav(odd, (await loadAudio(sample('engine'), SR)).subarray(2 * SR, 4 * SR), SR);
  const r = await learnClass({ model: banked, out: join(tmp.dir, 'with-odd'), label: 'beep', examples: [...examples.slice(0, 3), odd] });
  const loo = r.record.check.heldOutTakes!;
  assert.equal(loo.of, 4);
  assert.equal(loo.recognised, 3, JSON.stringify(loo));
  // on the examples themselves the fit covers the odd take too: only the leave-one-out check shows it
  assert.ok(r.record.check.examplesOnTop > loo.windowShare, JSON.stringify(r.record.check));
});

test('the saved directory reloads with the original rows unchanged and self-describing metadata', async () => {
  const orig = await loadModel(DEFAULT_MODEL_DIR);
  const next = await loadModel(learned);
  try {
    const [k0, b0] = finalDense(orig.model).getWeights();
    const [k1, b1] = finalDense(next.model).getWeights();
    const rows = k0!.shape[0]!;
    const classes = k0!.shape[1]!;
    assert.equal(classes, BUNDLED.length);
    // the kept rows (and, for a head that was widened, zeros for the extra features)
    const kept = tf.tidy(() => k1!.slice([0, 0], [rows, classes]).dataSync());
    assert.deepEqual([...kept], [...k0!.dataSync()]);
    if (k1!.shape[0]! > rows)
      assert.ok(
        tf.tidy(
          () =>
            k1!
              .slice([rows, 0], [k1!.shape[0]! - rows, classes])
              .abs()
              .max()
              .dataSync()[0] === 0,
        ),
      );
    assert.deepEqual([...b1!.dataSync()].slice(0, classes), [...b0!.dataSync()]);
    const m = next.metadata;
    assert.deepEqual(m.classes, [...BUNDLED, 'beep']);
    assert.deepEqual(m.features, orig.metadata.features);
    assert.equal(m.customClasses?.length, 1);
    const c = m.customClasses![0]!;
    assert.equal(c.label, 'beep');
    assert.deepEqual(c.examples.files, ['beep0.wav', 'beep1.wav', 'beep2.wav', 'beep3.wav']);
    assert.equal(c.negatives.bank, 40);
    assert.ok(!Number.isNaN(Date.parse(c.addedAt)));
    assert.ok(c.events.threshold > 0 && c.events.minDurationMs > 0);
    assert.ok((await readBank(learned))?.header.count === 40, 'the bank travels with the model');
  } finally {
    orig.model.dispose();
    next.model.dispose();
  }
});

test('--list describes the classes; --remove gives back the original outputs', async () => {
  const l = await listClasses(learned);
  assert.deepEqual(
    l.classes.map((c) => c.label),
    [...BUNDLED, 'beep'],
  );
  assert.deepEqual(
    l.classes.filter((c) => c.custom).map((c) => c.label),
    ['beep'],
  );
  // how far to trust each class: the original ones keep the bundled model's held-out recall; the learned one has none
  const recall = JSON.parse(await readFile(join(DEFAULT_MODEL_DIR, 'metadata.json'), 'utf8')).evaluation.crossValidation.recall;
  assert.deepEqual(
    Object.fromEntries(l.classes.filter((c) => c.heldOutRecall !== undefined).map((c) => [c.label, c.heldOutRecall])),
    recall,
  );
  const out = join(tmp.dir, 'removed');
  assert.deepEqual(await removeClass(learned, out, 'beep'), BUNDLED);
  const files = SAMPLES.map(sample);
  const a = await probabilities(DEFAULT_MODEL_DIR, files);
  const b = await probabilities(out, files);
  a.probs.forEach((p, i) => {
    for (let j = 0; j < p.length; j++) assert.ok(Math.abs(p[j]! - b.probs[i]![j]!) < 1e-5);
  });
  assert.equal((await loadModel(out)).metadata.customClasses?.length, 0);
});

test("the learned class's event settings reach the event layer; replay reports the new sound as an event", async () => {
  const cls = new Classifier(await loadModel(learned));
  try {
    const d = eventSettingsFor({}, cls).options.perClass!;
    assert.deepEqual(d.beep, { threshold: 0.5, minDurationMs: 1500 });
    // an original class keeps the event threshold the model's cross-validation chose for it
    assert.equal(typeof cls.eventThresholds.rain, 'number');
    assert.deepEqual(d.rain, { threshold: cls.eventThresholds.rain });
    // a general option replaces the learned class's setting; a per-class one too
    assert.deepEqual(eventSettingsFor({ minDuration: 3000 }, cls).options.perClass!.beep, { threshold: 0.5 });
    assert.deepEqual(eventSettingsFor({ eventThreshold: { perClass: { beep: 0.8 } } }, cls).options.perClass!.beep, {
      threshold: 0.8,
      minDurationMs: 1500,
    });
  } finally {
    cls.dispose();
  }
  // wind, then one second of beeps (shorter than the event layer's default 2 s minimum), then wind again
  const scene = join(tmp.dir, 'scene.wav');
  const wind = await loadAudio(sample('wind'), SR);
  const x = new Float32Array(wind.length * 2 + SR);
  x.set(wind);
  x.set(beeps(1020, 100, 100, 1, 42), wind.length);
  x.set(wind, wind.length + SR);
  await writeWav(scene, x, SR);
  const run = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'soundee.js'), 'replay', scene, '--json', '--model', learned], {
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
  const events = run.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; label: string; phase: string; startMs: number })
    .filter((m) => m.type === 'event' && m.phase === 'start');
  const beepStarts = events.filter((e) => e.label === 'beep');
  assert.equal(beepStarts.length, 1, JSON.stringify(events));
  assert.ok(beepStarts[0]!.startMs >= 2000 && beepStarts[0]!.startMs <= 3250, `beep started at ${beepStarts[0]!.startMs} ms`);
});

test('bad input gets errors with codes', async () => {
  const out = join(tmp.dir, 'x');
  const learn = (o: Partial<Parameters<typeof learnClass>[0]>) => learnClass({ model: banked, out, label: 'beep2', examples, ...o });
  await assert.rejects(learn({ examples: examples.slice(0, 2) }), { code: 'ERR_LEARN_TOO_FEW' });
  await assert.rejects(learn({ label: 'rain' }), { code: 'ERR_LEARN_LABEL' });
  await assert.rejects(learn({ label: 'a/b' }), { code: 'ERR_LEARN_LABEL' });
  await assert.rejects(learn({ out: banked }), { code: 'ERR_LEARN_OUT' });
  await assert.rejects(learn({ out: learned }), { code: 'ERR_LEARN_OUT' });
  await assert.rejects(learn({ examples: [...examples, join(tmp.dir, 'nope.wav')] }), { code: 'ERR_LEARN_INPUT' });
  const silent = join(tmp.dir, 'silent.wav');
  await writeWav(silent, new Float32Array(SR), SR);
  await assert.rejects(learn({ examples: [...examples, silent] }), { code: 'ERR_LEARN_SILENT' });
  await assert.rejects(learn({ expectFeatures: resolveFeatureConfig({ colormap: 'magma' }) }), { code: 'ERR_MODEL_MISMATCH' });
  await assert.rejects(removeClass(learned, join(tmp.dir, 'y'), 'rain'), { code: 'ERR_LEARN_LABEL' });
  await assert.rejects(removeClass(learned, join(tmp.dir, 'y'), 'nope'), { code: 'ERR_LEARN_LABEL' });
});

test('a bank computed for another network is not used', async () => {
  const other = join(tmp.dir, 'other-bank');
  await mkdir(other);
  for (const f of ['model.json', 'weights.bin', 'metadata.json']) await copyFile(join(DEFAULT_MODEL_DIR, f), join(other, f));
  const bank = JSON.parse(await readFile(join(banked, BANK_JSON), 'utf8')) as { trunk: string };
  await writeFile(join(other, BANK_JSON), JSON.stringify({ ...bank, trunk: 'another-network' }));
  await copyFile(join(banked, BANK_BIN), join(other, BANK_BIN));
  const r = await learnClass({ model: other, out: join(tmp.dir, 'from-other'), label: 'beep', examples });
  assert.equal(r.bank, 'stale');
});

test('soundee learn on the command line: learns, lists, and refuses bad input with exit code 2', () => {
  const bin = join(REPO_ROOT, 'bin', 'soundee.js');
  const out = join(tmp.dir, 'cli');
  const ok = spawnSync(process.execPath, [bin, 'learn', '--label', 'beep', '--model', banked, '--out', out, join(tmp.dir, 'beeps')], {
    encoding: 'utf8',
  });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stderr, /learned "beep" from 4 clips/);
  const list = spawnSync(process.execPath, [bin, 'learn', '--list', '--json', '--model', out], { encoding: 'utf8' });
  assert.equal(list.status, 0, list.stderr);
  const l = JSON.parse(list.stdout) as { classes: { label: string; custom?: object }[] };
  assert.equal(l.classes.at(-1)?.label, 'beep');
  assert.ok(l.classes.at(-1)?.custom);
  const bad = spawnSync(
    process.execPath,
    [bin, 'learn', '--label', 'beep', '--model', out, '--out', join(tmp.dir, 'cli2'), join(tmp.dir, 'beeps')],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /already has a class "beep".*ERR_LEARN_LABEL/);
});
