/**
 * decodeWav reads 16-bit integer and 32-bit float PCM straight from the bytes; the samples must be
 * bit-for-bit those of the general path through wavefile (they feed the feature path).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import wavefile from 'wavefile';
import { decodeWav, encodeWav } from '../../src/audio/wav.ts';
import { Random } from '../../src/util/random.ts';
import { fixture } from '../helpers/fixtures.ts';

/** The general path: wavefile's samples, (v − offset) · scale summed over channels, / channels. */
function viaWavefile(buf: Uint8Array): Float32Array {
  const wav = new wavefile.WaveFile(buf);
  const fmt = wav.fmt as { numChannels: number; bitsPerSample: number; audioFormat: number };
  let ch = wav.getSamples(false, Float64Array) as unknown as Float64Array[] | Float64Array;
  if (!Array.isArray(ch)) ch = [ch];
  const scale = fmt.audioFormat === 3 ? 1 : 1 / 2 ** (fmt.bitsPerSample - 1);
  const mono = new Float32Array(ch[0]!.length);
  for (const c of ch) for (let i = 0; i < mono.length; i++) mono[i]! += ((c[i] ?? 0) - 0) * scale;
  if (ch.length > 1) for (let i = 0; i < mono.length; i++) mono[i]! /= ch.length;
  return mono;
}

const same = (a: Float32Array, b: Float32Array) =>
  a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

test('16-bit PCM, 1–3 channels, full-scale and random: identical to the general path', () => {
  const rng = new Random(8001);
  for (const channels of [1, 2, 3]) {
    const n = 4001 * channels;
    const x = Float32Array.from({ length: n }, (_, i) =>
      i < 8 ? [-1, 1, 0, -0.5, 0.99997, -0.99997, 1e-9, -1e-9][i]! : rng.uniform(-1.2, 1.2),
    );
    const buf = encodeWav(x, 16000, { channels });
    const got = decodeWav(buf).samples;
    assert.ok(same(got, viaWavefile(buf)), `${channels} channel(s)`);
  }
  for (const name of [
    'sine1k-16k-s16-mono-0.5s.wav',
    'sine1k-44k1-s16-mono-0.5s.wav',
    'sine1k-left-silent-right-16k-s16-stereo-0.5s.wav',
  ]) {
    const buf = new Uint8Array(readFileSync(fixture(name)));
    assert.ok(same(decodeWav(buf).samples, viaWavefile(buf)), name);
  }
});

test('32-bit float PCM with extreme values (NaN, ±Infinity, −0, subnormals, huge): identical to the general path', () => {
  const rng = new Random(8002);
  for (const channels of [1, 2]) {
    const special = [NaN, Infinity, -Infinity, -0, 1e-45, -1e-45, 3e38, -3e38, 1.5, -7];
    const x = Float32Array.from({ length: 3000 * channels }, (_, i) => (i < special.length ? special[i]! : rng.normal()));
    const buf = encodeWav(x, 22050, { channels, encoding: 'float' });
    const got = decodeWav(buf).samples;
    const want = viaWavefile(buf);
    assert.equal(got.length, want.length);
    got.forEach((v, i) => {
      assert.ok(Object.is(v, want[i]), `${channels} ch, sample ${i}: ${v} vs ${want[i]}`);
    });
  }
  const buf = new Uint8Array(readFileSync(fixture('sine1k-16k-f32-mono-0.5s.wav')));
  assert.ok(same(decodeWav(buf).samples, viaWavefile(buf)));
});
