import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { decodeWav, encodeWav, readWav } from '../../src/audio/wav.ts';
import { loadAudio } from '../../src/audio/wav-reader.ts';
import { fixture } from '../helpers/fixtures.ts';

/** Amplitude of the component at freqHz (Goertzel), for checking decoded content. */
function toneAmplitude(x: Float32Array, freqHz: number, rate: number): number {
  const w = (2 * Math.PI * freqHz) / rate;
  let re = 0;
  let im = 0;
  for (let i = 0; i < x.length; i++) {
    re += x[i]! * Math.cos(w * i);
    im -= x[i]! * Math.sin(w * i);
  }
  return (2 * Math.hypot(re, im)) / x.length;
}

for (const name of ['u8', 's16', 's24', 's32', 'f32']) {
  test(`decodes ${name} mono PCM to [-1, 1] with the right content`, async () => {
    const w = await readWav(fixture(`sine1k-16k-${name}-mono-0.5s.wav`));
    assert.equal(w.sampleRateHz, 16000);
    assert.equal(w.channels, 1);
    assert.equal(w.samples.length, 8000);
    assert.equal(w.encoding, name === 'f32' ? 'float' : 'int');
    const peak = w.samples.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assert.ok(Math.abs(peak - 0.5) < 0.02, `peak ${peak}`);
    assert.ok(Math.abs(toneAmplitude(w.samples, 1000, 16000) - 0.5) < 0.02);
  });
}

test('downmixes stereo by averaging channels', async () => {
  const w = await readWav(fixture('sine1k-left-silent-right-16k-s16-stereo-0.5s.wav'));
  assert.equal(w.channels, 2);
  // left carries a 0.5 sine, right is silent: the mix has half the amplitude
  assert.ok(Math.abs(toneAmplitude(w.samples, 1000, 16000) - 0.25) < 0.01);
});

test('resamples 44.1 kHz to the model rate without changing pitch or level', async () => {
  const x = await loadAudio(fixture('sine1k-44k1-s16-mono-0.5s.wav'), 16000);
  assert.ok(Math.abs(x.length - 8000) <= 2, `length ${x.length}`);
  assert.ok(Math.abs(toneAmplitude(x.subarray(500, 7500), 1000, 16000) - 0.5) < 0.03);
  assert.ok(toneAmplitude(x.subarray(500, 7500), 1000 * (44100 / 16000), 16000) < 0.01);
});

test('refuses files that are not WAV, truncated, unsupported or missing, naming the file', async () => {
  await assert.rejects(readWav(fixture('not-a-wav.wav')), { code: 'ERR_WAV_INVALID', message: /not-a-wav\.wav: not a WAV file/ });
  await assert.rejects(readWav(fixture('truncated-sine1k.wav')), {
    code: 'ERR_WAV_TRUNCATED',
    message: /truncated-sine1k\.wav: truncated/,
  });
  await assert.rejects(readWav(fixture('sine1k-8k-alaw-0.5s.wav')), {
    code: 'ERR_WAV_UNSUPPORTED',
    message: /alaw.*unsupported encoding \(format tag 6\)/,
  });
  await assert.rejects(readWav(fixture('no-such-file.wav')), { code: 'ERR_FILE_NOT_FOUND', message: /no-such-file\.wav: no such file/ });
  const hdr = (await readFile(fixture('sine1k-16k-s16-mono-0.5s.wav'))).subarray(0, 30);
  assert.throws(() => decodeWav(hdr, 'cut.wav'), { code: 'ERR_WAV_TRUNCATED', message: /^cut\.wav: / });
  assert.throws(() => decodeWav(new Uint8Array(0), 'empty.wav'), { code: 'ERR_WAV_INVALID' });
});

test('encodeWav → decodeWav round-trips within quantisation error', () => {
  const x = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i / 10) * 0.9);
  for (const bits of [8, 16, 24, 32] as const) {
    const y = decodeWav(encodeWav(x, 22050, { bitsPerSample: bits })).samples;
    const tol = 2 / 2 ** (bits - 1);
    assert.ok(
      x.every((v, i) => Math.abs(v - y[i]!) <= tol),
      `${bits}-bit`,
    );
  }
  const f = decodeWav(encodeWav(x, 22050, { encoding: 'float' }));
  assert.equal(f.encoding, 'float');
  assert.deepEqual(f.samples, x);
});
