/**
 * The one feature path: streaming a signal through the RxJS pipeline in any chunking yields
 * byte-identical model inputs to rendering the windows of the whole signal at once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lastValueFrom, toArray } from 'rxjs';
import { hopSamples, resolveFeatureConfig, windowSamples } from '../../src/config.ts';
import { Framer, frameSignal } from '../../src/features/framer.ts';
import { renderFeatures } from '../../src/features/render.ts';
import { toModelInputs, toWindows } from '../../src/stream/operators.ts';
import { fromSamples } from '../../src/stream/sources.ts';
import { noise, sine } from '../helpers/fixtures.ts';

const c = resolveFeatureConfig();
// 3.3 s: sine + noise bursts so that windows differ from each other
const signal = (() => {
  const s = sine(700, 3.3, 16000, 0.3);
  const n = noise(3.3, 16000, 0.2, 3);
  return s.map((v, i) => v + (Math.floor(i / 3000) % 2 ? n[i]! : 0));
})();

async function wholeFileInputs(): Promise<Float32Array[]> {
  return Promise.all(frameSignal(signal, c).map((w) => renderFeatures(w, c)));
}

test('window count and positions follow the hop', () => {
  const ws = frameSignal(signal, c);
  assert.equal(ws.length, Math.floor((signal.length - windowSamples(c)) / hopSamples(c)) + 1);
  ws.forEach((w, i) => {
    assert.equal(w.index, i);
    assert.equal(w.startSample, i * hopSamples(c));
  });
});

test('each window equals the frames of its own slice, computed from scratch', () => {
  for (const w of frameSignal(signal, c)) {
    const alone = frameSignal(signal.subarray(w.startSample, w.startSample + windowSamples(c)), c);
    assert.equal(alone.length, 1);
    assert.deepEqual(alone[0]!.data, w.data);
  }
});

for (const chunk of [1, 37, 4096, 16001]) {
  test(`streaming in ${chunk}-sample chunks gives byte-identical model inputs`, async () => {
    const expected = await wholeFileInputs();
    const got = await lastValueFrom(
      fromSamples(signal, 16000, { chunkMillis: (chunk * 1000) / 16000, pace: 'fast' }).pipe(toWindows(c), toModelInputs(c), toArray()),
    );
    assert.equal(got.length, expected.length);
    got.forEach((r, i) => {
      assert.deepEqual(r.input, expected[i], `window ${i}`);
    });
  });
}

test('random chunk sizes give identical window frames', () => {
  const expected = frameSignal(signal, c);
  let seed = 5;
  const framer = new Framer(c);
  const got = [];
  for (let pos = 0; pos < signal.length; ) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const n = 1 + (seed % 9000);
    got.push(...framer.push(signal.subarray(pos, pos + n)));
    pos += n;
  }
  assert.equal(got.length, expected.length);
  got.forEach((w, i) => {
    assert.deepEqual(w.data, expected[i]!.data);
  });
});
