/**
 * The render queue sizes its batches to the load: one sharp call at a time, and the windows that
 * arrive while it runs go together in the next one; the images are those of single rendering.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveFeatureConfig } from '../../src/config.ts';
import { frameSignal } from '../../src/features/framer.ts';
import { RenderQueue, renderWindowImage } from '../../src/features/render.ts';
import { noise } from '../helpers/fixtures.ts';

const c = resolveFeatureConfig();

test('windows queued while a batch is in flight wait and go in the next batch together', async () => {
  const ws = frameSignal(noise(5, 16000, 0.3, 31), c);
  const q = new RenderQueue(c);
  const first = q.image(ws[0]!);
  await new Promise((r) => setImmediate(r)); // the first batch (one window) is now in flight
  const rest = ws.slice(1).map((w) => q.image(w));
  assert.equal(q.pending, ws.length - 1, 'the others wait for the call in flight');
  const got = await Promise.all([first, ...rest]);
  assert.deepEqual(q.stats, { batches: 2, items: ws.length, maxBatchSeen: ws.length - 1 });
  for (const [i, w] of ws.entries()) assert.deepEqual(got[i], await renderWindowImage(w, c), `window ${i}`);
});

test('an idle queue renders a lone window at once; maxBatch and maxInFlight are checked', async () => {
  const [w] = frameSignal(noise(1, 16000, 0.3, 32), c);
  const q = new RenderQueue(c, 8, 2);
  assert.deepEqual(await q.image(w!), await renderWindowImage(w!, c));
  assert.equal(q.stats.batches, 1);
  assert.throws(() => new RenderQueue(c, 0), RangeError);
  assert.throws(() => new RenderQueue(c, 8, 0.5), RangeError);
});
