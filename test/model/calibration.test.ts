/**
 * What a model's metadata says about trusting its answers: a temperature applied to every
 * probability, background classes that are never a label, and per-class event thresholds that the
 * event options take by default.
 */
import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { UNKNOWN_LABEL } from '../../src/config.ts';
import { eventOptionsOf, eventSettingsFor } from '../../src/cli/event-options.ts';
import { Engine } from '../../src/engine/engine.ts';
import { initBackend } from '../../src/model/backend.ts';
import { applyTemperature } from '../../src/model/calibration.ts';
import { Classifier } from '../../src/model/classifier.ts';
import { loadModel, updateMetadata } from '../../src/model/io.ts';
import { tempDir, writeTinyModel } from '../helpers/fixtures.ts';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let plain: string;
let calibrated: string;
before(async () => {
  await initBackend('wasm', null);
  tmp = await tempDir();
  plain = join(tmp.dir, 'plain');
  calibrated = join(tmp.dir, 'calibrated');
  await writeTinyModel(plain, ['birds', 'background', 'rain']);
  await cp(plain, calibrated, { recursive: true });
  await updateMetadata(calibrated, {
    backgroundClasses: ['background'],
    calibration: { method: 'temperature', temperature: 2.5 },
    eventThresholds: { birds: 0.7, rain: 0.55 },
  });
});
after(() => tmp.cleanup());

const inputs = Array.from({ length: 6 }, (_, k) => Uint8Array.from({ length: 32 * 32 * 3 }, (_, i) => (((i * (k + 3)) % 17) * 255) / 16));

test('the temperature in the metadata is applied to every probability; the top class stays', async () => {
  const a = new Classifier(await loadModel(plain));
  const b = new Classifier(await loadModel(calibrated));
  try {
    assert.equal(a.temperature, 1);
    assert.equal(b.temperature, 2.5);
    const ra = a.classify(inputs);
    const rb = b.classify(inputs);
    ra.forEach((r, i) => {
      const want = applyTemperature(r.probabilities, 2.5);
      rb[i]!.probabilities.forEach((p, k) => {
        assert.ok(Math.abs(p - want[k]!) < 1e-6);
      });
      assert.equal(rb[i]!.probabilities.indexOf(rb[i]!.confidence), r.probabilities.indexOf(r.confidence));
    });
  } finally {
    a.dispose();
    b.dispose();
  }
});

test('a background class on top is labelled unknown, whatever its probability', async () => {
  const b = new Classifier(await loadModel(calibrated), { threshold: 0 });
  try {
    assert.equal(b.label(Float32Array.from([0.1, 0.8, 0.1])).label, UNKNOWN_LABEL);
    assert.equal(b.label(Float32Array.from([0.8, 0.1, 0.1])).label, 'birds');
  } finally {
    b.dispose();
  }
});

test("the model's event thresholds are the defaults; --event-threshold P replaces them, CLASS=P one of them", async () => {
  const b = new Classifier(await loadModel(calibrated));
  try {
    assert.deepEqual(eventOptionsOf({}, b).perClass, { birds: { threshold: 0.7 }, rain: { threshold: 0.55 } });
    assert.deepEqual(eventOptionsOf({}, b).backgroundClasses, ['background']);
    const general = eventOptionsOf({ eventThreshold: { threshold: 0.5, perClass: {} } }, b);
    assert.deepEqual(general.perClass, {});
    assert.equal(general.threshold, 0.5);
    assert.deepEqual(eventOptionsOf({ eventThreshold: { perClass: { rain: 0.9 } } }, b).perClass, {
      birds: { threshold: 0.7 },
      rain: { threshold: 0.9 },
    });
    assert.equal(eventSettingsFor({}, b).options.perClass?.birds?.threshold, 0.7);
  } finally {
    b.dispose();
  }
});

test('an engine opened on the model (a library user, no command line) takes its event thresholds and background classes', async () => {
  const b = new Classifier(await loadModel(calibrated));
  const engine = new Engine(b);
  try {
    const threshold = (e: Engine, c: string) => e.eventSettings.settings[c]?.threshold;
    assert.equal(threshold(engine, 'birds'), 0.7);
    assert.equal(threshold(engine, 'rain'), 0.55);
    assert.deepEqual(engine.eventSettings.tracked, ['birds', 'rain']);
    // a class the options set keeps its own; a general threshold replaces the model's
    engine.setEventOptions({ perClass: { rain: { threshold: 0.9 } } });
    assert.equal(threshold(engine, 'birds'), 0.7);
    assert.equal(threshold(engine, 'rain'), 0.9);
    engine.setEventOptions({ threshold: 0.5 });
    assert.equal(threshold(engine, 'birds'), 0.5);
    assert.equal(threshold(engine, 'rain'), 0.5);
  } finally {
    engine.dispose();
  }
});

test('a malformed calibration or event threshold is refused on load', async () => {
  const meta = JSON.parse(await readFile(join(calibrated, 'metadata.json'), 'utf8'));
  for (const bad of [
    { calibration: { method: 'temperature', temperature: 0 } },
    { calibration: { method: 'platt' } },
    { eventThresholds: { thunder: 0.5 } },
    { eventThresholds: { birds: 1.5 } },
  ]) {
    await writeFile(join(calibrated, 'metadata.json'), JSON.stringify({ ...meta, ...bad }));
    await assert.rejects(loadModel(calibrated), { code: 'ERR_MODEL_INVALID' });
  }
  await writeFile(join(calibrated, 'metadata.json'), JSON.stringify(meta));
});
