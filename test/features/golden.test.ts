/**
 * Golden output of the feature path. The bundled model was trained on exactly these bytes, so a speed-up
 * of the STFT, the filterbank, the colormap or the resize must leave them unchanged: the hashes below
 * were recorded with the code before the performance work (issue 6) and are checked bit for bit.
 *
 * What is hashed, per feature setting, for a 6 s test signal (a modulated sine plus noise bursts):
 *  - `frames`: every window's dB frames (Float32 bytes) with its peak, RMS, index and start;
 *  - `inputs`: every window's model input (Float32 bytes): its image (one window per sharp call) through the
 *    classifier's one bytes → [0, 1] conversion, `toModelInput`;
 *  - `batched`: the model-input images of all windows from renderWindowImages (one sharp call).
 *
 * If this fails after a dependency upgrade (sharp/libvips), the model input changed: retrain, or pin.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { type FeatureConfig, resolveFeatureConfig } from '../../src/config.ts';
import { frameSignal } from '../../src/features/framer.ts';
import { renderWindowImage, renderWindowImages } from '../../src/features/render.ts';
import { toModelInput } from '../../src/model/classifier.ts';
import { noise, sine } from '../helpers/fixtures.ts';

const signal = (() => {
  const s = sine(700, 6, 16000, 0.3);
  const n = noise(6, 16000, 0.4, 21);
  return s.map((v, i) => v * Math.abs(Math.sin(i / 5000)) + (Math.floor(i / 2700) % 3 ? (n[i]! * (i % 7919)) / 7919 : 0));
})();

const GOLDEN: { settings: Partial<FeatureConfig>; windows: number; frames: string; inputs: string; batched: string }[] = [
  {
    settings: {},
    windows: 21,
    frames: 'b01c5e7155a30f5602aa165e2c503b198471e9e209dbf1afca8b830914233207',
    inputs: 'f06566b826e0863f35ae24e1798fc354b6b6cb5d81ed29ca61f7a621c30e4ee3',
    batched: 'd849ac5571475a9a22ebb92a4ece9d89a2a347ae70543cdd5464b27f9ab2e649',
  },
  {
    settings: { bands: 64 },
    windows: 21,
    frames: '44bc357ebcbe9d38c4990106f7cb2aeeef266735d89ff47489e81e6553e44d80',
    inputs: 'ac23b4569307e0bee623aade8b546b805985e153d7752138532f15086034d648',
    batched: '7064d8aeaedce45ee1622a40d4677eadf0963aff1f12c7b2d63637d782e29fc6',
  },
  {
    settings: { frequencyScale: 'linear', windowFunction: 'hamming', colormap: 'magma' },
    windows: 21,
    frames: 'eeeff48eb24db3f320f853fc229661b1d4853f73f3076e2ce73a2857c8398d44',
    inputs: '703d8514afa48d3fae1fe54d1327fc7c206fc70e2a6ad78275ae55512380f25f',
    batched: '1e39e6374cbe8e58322b64c22b6aaf70a92132b4ecc48f96f7b663698f7f6edc',
  },
  {
    settings: { dbReference: 'full-scale', stftHopSamples: 125, fftSize: 256 },
    windows: 21,
    frames: '2291c385a905ab011cdb2e77fb75b7c3a8b2fd4f1dc372bf0ea37d31fbafd796',
    inputs: '40409066b86a7577fe7db67bb89d61de37d3105cf10d817631626b28fec220da',
    batched: '4c1b9180004603d9e59a01ac350812ba47468d5f5e3d0fe5a017677e8e08fea8',
  },
  {
    settings: { resizeKernel: 'nearest', windowFunction: 'blackman' },
    windows: 21,
    frames: 'fa866eb2a8aa77c45ccea0f275279d67ed94f1bba24463beb44f4c74472c71c8',
    inputs: '4d7d0bbe1d2cd31b88bc6939464f5077e2847c29d79f3bae9f23876da5491409',
    batched: '5b32c05aadc5dddce770e1a1122f0ccd968ef3ea578e77084eef071f27a09379',
  },
];

for (const g of GOLDEN) {
  test(`feature path output is unchanged: ${JSON.stringify(g.settings)}`, async () => {
    const c = resolveFeatureConfig(g.settings);
    const ws = frameSignal(signal, c);
    assert.equal(ws.length, g.windows);
    const frames = createHash('sha256');
    for (const w of ws) {
      frames.update(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength));
      frames.update(JSON.stringify([w.peak, w.rmsDb, w.index, w.startSample]));
    }
    assert.equal(frames.digest('hex'), g.frames, 'dB frames');
    const inputs = createHash('sha256');
    for (const w of ws) {
      const x = toModelInput(await renderWindowImage(w, c));
      inputs.update(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
    }
    assert.equal(inputs.digest('hex'), g.inputs, 'model inputs, one window at a time');
    const batched = createHash('sha256');
    for (const im of await renderWindowImages(ws, c)) batched.update(im);
    assert.equal(batched.digest('hex'), g.batched, 'model-input images, all windows in one sharp call');
  });
}
