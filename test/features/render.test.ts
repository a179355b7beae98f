import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type FeatureConfig, resolveFeatureConfig } from '../../src/config.ts';
import { colormapLut } from '../../src/features/colormap.ts';
import { type WindowFrames, frameSignal } from '../../src/features/framer.ts';
import { RenderQueue, colorize, renderWindowImage, renderWindowImages } from '../../src/features/render.ts';
import { toModelInput } from '../../src/model/classifier.ts';
import { noise, sine } from '../helpers/fixtures.ts';

/** A window's model input as the classifier feeds it to the network: its image bytes / 255. */
const renderFeatures = async (w: WindowFrames, cfg: FeatureConfig): Promise<Float32Array> => toModelInput(await renderWindowImage(w, cfg));

const c = resolveFeatureConfig();

test('viridis LUT runs from dark purple to yellow', () => {
  const lut = colormapLut('viridis');
  assert.deepEqual([...lut.subarray(0, 3)], [0x44, 0x01, 0x54]);
  assert.deepEqual([...lut.subarray(765, 768)], [0xfd, 0xe7, 0x25]);
});

test('model input is imageSize²·3 floats in [0, 1] with three distinct colour channels', async () => {
  const [w] = frameSignal(noise(1, 16000, 0.3), c);
  const x = await renderFeatures(w!, c);
  assert.equal(x.length, 32 * 32 * 3);
  assert.ok(x.every((v) => v >= 0 && v <= 1));
  // all channels carry the colormap: not a grey image, and not one channel copied
  let rDiffG = 0;
  let gDiffB = 0;
  for (let i = 0; i < x.length; i += 3) {
    rDiffG += Math.abs(x[i]! - x[i + 1]!);
    gDiffB += Math.abs(x[i + 1]! - x[i + 2]!);
  }
  assert.ok(rDiffG > 10 && gDiffB > 10);
});

test('low frequencies at the bottom, high at the top; time runs left to right', async () => {
  // 200 Hz tone that starts half way through the window
  const s = sine(200, 1, 16000, 0.5).map((v, i) => (i < 8000 ? 0 : v));
  const [w] = frameSignal(s, c);
  const img = colorize(w!, c);
  const level = (row: number, col: number) => {
    const lut = colormapLut('viridis');
    const px = (row * img.width + col) * 3;
    // find the LUT index of the pixel
    for (let i = 0; i < 256; i++)
      if (lut[3 * i] === img.data[px] && lut[3 * i + 1] === img.data[px + 1] && lut[3 * i + 2] === img.data[px + 2]) return i;
    return -1;
  };
  const bottom = img.height - 1;
  const rowOf200 = [...Array(img.height).keys()].reduce((best, r) => (level(r, img.width - 5) > level(best, img.width - 5) ? r : best), 0);
  assert.ok(rowOf200 > img.height * 0.6, `200 Hz shows at row ${rowOf200} of ${img.height} (expected near the bottom ${bottom})`);
  assert.ok(level(rowOf200, img.width - 5) > level(rowOf200, 5) + 100, 'the tone appears only on the right (later) side');
});

test('silence, DC and clipping render to valid images; silence is uniform', async () => {
  const silent = await renderWindowImage(frameSignal(new Float32Array(16000), c)[0]!, c);
  assert.ok(silent.every((v, i) => v === silent[i % 3]));
  const dc = await renderFeatures(frameSignal(new Float32Array(16000).fill(0.4), c)[0]!, c);
  const clipped = await renderFeatures(
    frameSignal(
      sine(440, 1, 16000, 5).map((v) => Math.max(-1, Math.min(1, v))),
      c,
    )[0]!,
    c,
  );
  for (const x of [dc, clipped]) assert.ok(x.every((v) => Number.isFinite(v) && v >= 0 && v <= 1));
});

test('rendering is deterministic', async () => {
  const [w] = frameSignal(noise(1, 16000, 0.3, 9), c);
  assert.deepEqual(await renderFeatures(w!, c), await renderFeatures(w!, c));
});

test('batched rendering (one sharp call for many windows) is byte-identical to one window at a time', async () => {
  const s = noise(4, 16000, 0.3, 11).map((v, i) => v * (0.2 + 0.8 * Math.abs(Math.sin(i / 3000))));
  for (const cfg of [c, resolveFeatureConfig({ bands: 64 }), resolveFeatureConfig({ resizeKernel: 'nearest' })]) {
    const ws = frameSignal(s, cfg);
    const batched = await renderWindowImages(ws, cfg);
    const single = await Promise.all(ws.map((w) => renderWindowImage(w, cfg)));
    assert.equal(batched.length, ws.length);
    batched.forEach((b, i) => {
      assert.deepEqual(b, single[i], `window ${i}, bands ${cfg.bands}, ${cfg.resizeKernel}`);
    });
  }
  assert.deepEqual(await renderWindowImages([], c), []);
});

test('the render queue batches concurrent windows and matches single rendering', async () => {
  const ws = frameSignal(noise(3, 16000, 0.3, 12), c);
  const q = new RenderQueue(c, 4);
  const got = await Promise.all(ws.map((w) => q.image(w)));
  for (const [i, w] of ws.entries()) assert.deepEqual(got[i], await renderWindowImage(w, c));
});
