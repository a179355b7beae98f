import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_FEATURE_CONFIG, diffFeatureConfig, framesPerHop, framesPerWindow, resolveFeatureConfig } from '../src/config.ts';

test('defaults resolve and give whole STFT hops per window hop', () => {
  const c = resolveFeatureConfig();
  assert.deepEqual({ ...c }, { ...DEFAULT_FEATURE_CONFIG });
  assert.equal(framesPerHop(c), 16);
  assert.equal(framesPerWindow(c), 62);
});

test('invalid settings are refused with ERR_CONFIG naming the field', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ hopMillis: 0 }, /hopMillis/],
    [{ hopMillis: 2000 }, /hopMillis/],
    [{ fftSize: 500 }, /fftSize/],
    [{ stftHopSamples: 128 }, /stftHopSamples=128 must divide/],
    [{ stftHopSamples: 300 }, /stftHopSamples=300 must divide/],
    [{ fMaxHz: 9000 }, /fMaxHz/],
    [{ colormap: 'jet' }, /colormap/],
    [{ bands: 1 }, /bands/],
    [{ windowMillis: 1000.01 }, /whole number of samples/],
    [{ nonsense: 1 }, /unknown feature setting/],
  ];
  for (const [partial, msg] of cases) assert.throws(() => resolveFeatureConfig(partial as never), { code: 'ERR_CONFIG', message: msg });
});

test('diffFeatureConfig lists exactly the differing fields', () => {
  const a = resolveFeatureConfig();
  const b = resolveFeatureConfig({ fftSize: 1024, colormap: 'magma' });
  assert.deepEqual(diffFeatureConfig(a, a), []);
  assert.deepEqual(diffFeatureConfig(a, b), ['fftSize: 512 ≠ 1024', 'colormap: "viridis" ≠ "magma"']);
});
