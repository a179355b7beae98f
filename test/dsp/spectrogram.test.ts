import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveFeatureConfig } from '../../src/config.ts';
import { RealFft } from '../../src/dsp/fft.ts';
import { FrameAnalyzer, hzToMel, makeFilterbank, melToHz } from '../../src/dsp/spectrogram.ts';
import { noise, sine } from '../helpers/fixtures.ts';

test('fft.js agrees with a direct DFT (tolerance 1e-9)', () => {
  const n = 64;
  const x = noise(n / 16000, 16000, 1, 7);
  const X = RealFft.of(n).complexSpectrum(x);
  for (let k = 0; k < n; k++) {
    let re = 0;
    let im = 0;
    for (let t = 0; t < n; t++) {
      re += x[t]! * Math.cos((2 * Math.PI * k * t) / n);
      im -= x[t]! * Math.sin((2 * Math.PI * k * t) / n);
    }
    assert.ok(Math.abs(X[2 * k]! - re) < 1e-9 && Math.abs(X[2 * k + 1]! - im) < 1e-9, `bin ${k}`);
  }
});

test('mel scale round-trips', () => {
  for (const hz of [0, 100, 1000, 4999]) assert.ok(Math.abs(melToHz(hzToMel(hz)) - hz) < 1e-6);
});

test('every band of the filterbank is non-empty and lies within fMin..fMax', () => {
  for (const frequencyScale of ['mel', 'linear'] as const) {
    const c = resolveFeatureConfig({ frequencyScale });
    const fb = makeFilterbank(c);
    const binHz = c.sampleRateHz / c.fftSize;
    for (let b = 0; b < fb.bands; b++) {
      assert.ok(fb.weights[b]!.length > 0);
      assert.ok(Math.abs(fb.weights[b]!.reduce((a, x) => a + x, 0) - 1) < 1e-9);
      assert.ok((fb.start[b]! + fb.weights[b]!.length - 1) * binHz <= c.fMaxHz + binHz);
    }
  }
});

function frameDb(x: Float32Array, frequencyScale: 'mel' | 'linear' = 'mel') {
  const c = resolveFeatureConfig({ frequencyScale });
  const a = new FrameAnalyzer(c);
  const out = new Float32Array(c.bands);
  a.analyze(x, 0, out, 0);
  return { c, out };
}

test('a sine peaks in the band that contains its frequency, near 0 dB at full scale', () => {
  for (const frequencyScale of ['mel', 'linear'] as const)
    for (const f of [250, 1000, 3000]) {
      const { c, out } = frameDb(sine(f, 0.1, 16000, 1), frequencyScale);
      const peak = out.indexOf(Math.max(...out));
      const fb = makeFilterbank(c);
      const binHz = c.sampleRateHz / c.fftSize;
      const lo = fb.start[peak]! * binHz;
      const hi = (fb.start[peak]! + fb.weights[peak]!.length - 1) * binHz;
      assert.ok(f >= lo - binHz && f <= hi + binHz, `${frequencyScale} ${f} Hz peaked in band ${peak} (${lo}–${hi} Hz)`);
      if (frequencyScale === 'linear') assert.ok(out[peak]! > -20 && out[peak]! < 3, `level ${out[peak]}`);
    }
});

test('a sine above fMaxHz (the feature low-pass) is not seen', () => {
  const { c, out } = frameDb(sine(7000, 0.1, 16000, 1));
  assert.ok(Math.max(...out) < c.noiseFloorDb + 10, `max ${Math.max(...out)} dB`);
});

test('digital silence sits exactly at the noise floor', () => {
  const { c, out } = frameDb(new Float32Array(1024));
  for (const v of out) assert.ok(Math.abs(v - c.noiseFloorDb) < 1e-4);
});

test('DC lands in the lowest band; clipping gives finite values', () => {
  const dc = frameDb(new Float32Array(1024).fill(0.5)).out;
  assert.equal(dc.indexOf(Math.max(...dc)), 0);
  const clipped = frameDb(sine(440, 0.1, 16000, 4).map((v) => Math.max(-1, Math.min(1, v)))).out;
  assert.ok(clipped.every(Number.isFinite));
  assert.ok(Math.max(...clipped) < 10);
});
