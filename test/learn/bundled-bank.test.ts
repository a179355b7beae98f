/**
 * The bundled model's bank of negatives must have been computed with the bundled network: after a
 * retrained models/default, rebuild it (README, "Teach it your sound"), or `soundee learn` falls back to
 * fitting new classes against noise and the user's negatives only.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readBank } from '../../src/learn/bank.ts';
import { Embedder, trunkFingerprint } from '../../src/learn/embed.ts';
import { DEFAULT_LEARN } from '../../src/learn/learn.ts';
import { initBackend } from '../../src/model/backend.ts';
import { loadModel } from '../../src/model/io.ts';
import { DEFAULT_MODEL_DIR } from '../../src/paths.ts';

test("the bundled bank of negatives fits the bundled model's trunk and embedding", async () => {
  await initBackend('wasm', null);
  const bank = await readBank(DEFAULT_MODEL_DIR);
  assert.ok(bank, 'models/default carries negative-bank.json and negative-bank.bin');
  const loaded = await loadModel(DEFAULT_MODEL_DIR);
  const embedder = new Embedder(loaded, { extraFeatures: DEFAULT_LEARN.extraFeatures });
  try {
    assert.equal(
      bank.header.trunk,
      trunkFingerprint(loaded.model),
      'computed for another network: soundee learn --bank data/household/bank data/ambient.sdset --model models/default',
    );
    assert.equal(bank.header.dims, embedder.dims);
    assert.equal(bank.emb.length, bank.header.count * bank.header.dims);
    assert.ok(bank.emb.every(Number.isFinite));
  } finally {
    embedder.dispose();
    loaded.model.dispose();
  }
});
