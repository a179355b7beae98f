/**
 * The one feature path: streaming a signal through the RxJS pipeline in any chunking yields
 * byte-identical model-input images to rendering the windows of the whole signal at once (renderClip),
 * and a stream shorter than one window is padded exactly as a clip is.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lastValueFrom, toArray } from 'rxjs';
import { hopSamples, resolveFeatureConfig, windowSamples } from '../../src/config.ts';
import { Framer, frameSignal } from '../../src/features/framer.ts';
import { renderClip } from '../../src/features/clip.ts';
import { RenderQueue } from '../../src/features/render.ts';
import { toImages, toWindows } from '../../src/stream/operators.ts';
import { fromSamples } from '../../src/stream/sources.ts';
import { noise, sine } from '../helpers/fixtures.ts';

const c = resolveFeatureConfig();
// 3.3 s: sine + noise bursts so that windows differ from each other
const signal = (() => {
  const s = sine(700, 3.3, 16000, 0.3);
  const n = noise(3.3, 16000, 0.2, 3);
  return s.map((v, i) => v + (Math.floor(i / 3000) % 2 ? n[i]! : 0));
})();

async function wholeFileInputs(x: Float32Array = signal): Promise<readonly Uint8Array[]> {
  return (await renderClip(x, c)).images;
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
      fromSamples(signal, 16000, { chunkMs: (chunk * 1000) / 16000, pace: 'fast' }).pipe(
        toWindows(c),
        toImages(new RenderQueue(c)),
        toArray(),
      ),
    );
    assert.equal(got.length, expected.length);
    got.forEach((r, i) => {
      assert.deepEqual(r.image, expected[i], `window ${i}`);
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

test('one pad rule: a stream shorter than one window gives the one window renderClip gives the clip, in any chunking', async () => {
  for (const seconds of [0.3, 0.999]) {
    const short = signal.subarray(0, Math.round(seconds * 16000));
    const clip = await renderClip(short, c);
    assert.equal(clip.windows.length, 1, `${seconds} s clip: one padded window`);
    assert.equal(clip.samples.length, windowSamples(c));
    for (const chunk of [37, 4096]) {
      const got = await lastValueFrom(
        fromSamples(short, 16000, { chunkMs: (chunk * 1000) / 16000 }).pipe(toWindows(c), toImages(new RenderQueue(c)), toArray()),
      );
      assert.equal(got.length, 1);
      assert.deepEqual(got[0]!.window.data, clip.windows[0]!.data);
      assert.equal(got[0]!.window.rmsDb, clip.windows[0]!.rmsDb);
      assert.deepEqual(got[0]!.image, clip.images[0]);
    }
  }
  // a stream of a window or more is not padded: its windows are the complete ones
  const longer = signal.subarray(0, windowSamples(c) + 100);
  assert.equal((await renderClip(longer, c)).windows.length, 1);
  assert.equal((await lastValueFrom(fromSamples(longer, 16000).pipe(toWindows(c), toArray()))).length, 1);
  assert.equal(
    (await lastValueFrom(fromSamples(new Float32Array(0), 16000).pipe(toWindows(c), toArray()))).length,
    0,
    'no audio, no window',
  );
});
