/**
 * False alarms per hour: event starts of the real event layer, counted on classified windows and on
 * recordings replayed exactly as `soundee replay` replays them (checked against its --json output).
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { initBackend } from '../../src/model/backend.ts';
import { Classifier } from '../../src/model/classifier.ts';
import { loadModel } from '../../src/model/io.ts';
import type { ScoredWindow } from '../../src/events/tracker.ts';
import { countEventStarts, falseAlarmsOnFiles, listWavFiles } from '../../src/training/false-alarms.ts';
import { tempDir, runSoundee } from '../helpers/fixtures.ts';
import { writeScene, writeTiltModel } from '../helpers/tilt-model.ts';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let model: string;
let scenes: string;
before(async () => {
  await initBackend('wasm', null);
  tmp = await tempDir();
  model = join(tmp.dir, 'tilt');
  await writeTiltModel(model);
  scenes = join(tmp.dir, 'scenes');
  await mkdir(join(scenes, 'sub'), { recursive: true });
  await writeScene(join(scenes, 'a.wav'), ['fire', 2, 'water']);
  await writeScene(join(scenes, 'sub', 'b.wav'), [3, 'fire', 4, 'fire']);
});
after(() => tmp.cleanup());

const windows = (scores: number[], rmsDb = -20): ScoredWindow[] =>
  scores.map((s, i) => ({ streamId: 's', startMs: 250 * i, endMs: 250 * i + 1000, scores: { a: s, b: 1 - s }, rmsDb }));

test('event starts on classified windows: a sustained score starts one event, flicker and quiet windows none', () => {
  const opts = { backgroundClasses: ['b'] };
  const r = countEventStarts(
    new Map([
      ['long', windows(Array(20).fill(0.9))],
      ['flicker', windows([0.9, 0, 0, 0.9, 0, 0, 0.9, 0, 0, 0])],
      ['quiet', windows(Array(20).fill(0.9), -70)],
    ]),
    ['a', 'b'],
    opts,
  );
  assert.equal(r.starts, 1);
  assert.deepEqual(r.byClass, { a: 1 });
  assert.equal(r.streams, 3);
  // 20 windows span 0–5.75 s, 10 span 0–3.25 s
  assert.ok(Math.abs(r.hours - (5.75 + 3.25 + 5.75) / 3600) < 1e-12);
  assert.ok(Math.abs(r.perHour - 1 / r.hours) < 1e-9);
  assert.deepEqual(
    r.streamsWithEvents.map((s) => s.stream),
    ['long'],
  );
  // a per-class threshold above the scores: nothing
  assert.equal(
    countEventStarts(new Map([['long', windows(Array(20).fill(0.9))]]), ['a', 'b'], { ...opts, perClass: { a: { threshold: 0.95 } } })
      .starts,
    0,
  );
});

test('replaying recordings counts what `soundee replay --json` reports, file by file', async () => {
  const files = await listWavFiles([scenes]);
  assert.deepEqual(
    files.map((f) => f.slice(scenes.length + 1)),
    ['a.wav', 'sub/b.wav'],
  );
  const cls = new Classifier(await loadModel(model));
  let r: Awaited<ReturnType<typeof falseAlarmsOnFiles>>;
  try {
    r = await falseAlarmsOnFiles(cls, files, {});
  } finally {
    cls.dispose();
  }
  let total = 0;
  for (const f of files) {
    const out = runSoundee(['replay', f, '--json', '--model', model]);
    assert.equal(out.status, 0, out.stderr);
    const starts = out.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((m) => m.type === 'event' && m.phase === 'start');
    const mine = r.streamsWithEvents.find((s) => s.stream === f)?.byClass ?? {};
    const theirs: Record<string, number> = {};
    for (const e of starts) theirs[e.label] = (theirs[e.label] ?? 0) + 1;
    assert.deepEqual(mine, theirs, f);
    total += starts.length;
  }
  assert.ok(total >= 3, `the scenes hold events (${total})`);
  assert.equal(r.starts, total);
  // the command prints the same
  const cli = runSoundee(['false-alarms', scenes, '--model', model, '--json']);
  assert.equal(cli.status, 0, cli.stderr);
  const j = JSON.parse(cli.stdout);
  assert.equal(j.starts, total);
  assert.deepEqual(j.byClass, r.byClass);
  assert.ok(Math.abs(j.hours - r.hours) < 1e-9);
  await assert.rejects(listWavFiles([join(tmp.dir, 'nope')]), { code: 'ERR_DATASET' });
});
