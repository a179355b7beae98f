/**
 * The one resampling rule: a stream's output does not depend on how its input is chunked, and at the
 * end of the stream the filter is flushed so that the output spans the input exactly (⌈n · to / from⌉
 * samples) — the last window of a 44.1 kHz or 48 kHz stream is not lost.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lastValueFrom, toArray } from 'rxjs';
import { StreamResampler, resample } from '../../src/audio/resample.ts';
import { concatSamples } from '../../src/audio/wav-reader.ts';
import { resampleTo } from '../../src/stream/resample.ts';
import { fromSamples } from '../../src/stream/sources.ts';
import { noise, sine } from '../helpers/fixtures.ts';

const RATES = [8000, 11025, 22050, 44100, 48000];
const signal = (rate: number, seconds = 1.37) => {
  const s = sine(700, seconds, rate, 0.4);
  const n = noise(seconds, rate, 0.2, rate);
  return s.map((v, i) => v + n[i]!);
};

test('the output spans the input exactly: ⌈n · to / from⌉ samples, for whole seconds and odd lengths', async () => {
  for (const from of RATES)
    for (const n of [1, 999, from, 3 * from, 3 * from + 17]) {
      const x = signal(from).subarray(0, Math.min(n, signal(from).length));
      const y = await resample(x, from, 16000);
      assert.equal(y.length, Math.ceil((x.length * 16000) / from), `${from} Hz, ${x.length} samples`);
    }
  assert.equal((await resample(signal(44100, 3), 44100, 16000)).length, 48000, '3 s at 44.1 kHz is 3 s at 16 kHz');
});

test('chunking does not change the output: random chunk sizes, then the flush, equal one push and the flush', async () => {
  let seed = 17;
  for (const from of RATES) {
    const x = signal(from);
    const whole = await resample(x, from, 16000);
    const r = await StreamResampler.create(from, 16000);
    const parts: Float32Array[] = [];
    for (let o = 0; o < x.length; ) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const n = 1 + (seed % 5000);
      parts.push(r.push(x.subarray(o, o + n)));
      o += n;
    }
    parts.push(r.flush());
    r.destroy();
    assert.deepEqual(concatSamples(parts), whole, `${from} Hz`);
  }
});

test('the operator flushes when its source completes, and holds chunks that arrive before the converter exists', async () => {
  const x = signal(48000);
  const got = await lastValueFrom(fromSamples(x, 48000, { chunkMs: 20 }).pipe(resampleTo(48000, 16000), toArray()));
  assert.deepEqual(concatSamples(got), await resample(x, 48000, 16000));
});

test('flush is final: idempotent, and a push after it is refused', async () => {
  const r = await StreamResampler.create(44100, 16000);
  r.push(signal(44100));
  assert.ok(r.flush().length > 0);
  assert.equal(r.flush().length, 0);
  assert.throws(() => r.push(new Float32Array(10)), { code: 'ERR_RESAMPLER' });
  r.destroy();
  assert.equal(await resample(signal(16000), 16000, 16000).then((y) => y.length), signal(16000).length, 'equal rates: the input itself');
});
