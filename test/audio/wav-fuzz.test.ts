/**
 * Fuzzing the WAV reader: random bytes, and valid files with mutated headers, flipped bits and cut
 * ends (a fixed number of seeded cases). decodeWav either decodes — mono Float32 samples with
 * plausible fields — or throws a SoundeeError with one of its documented codes; never another
 * error, never a hang.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { SoundeeError } from '../../src/config.ts';
import { decodeWav, encodeWav } from '../../src/audio/wav.ts';
import { Random } from '../../src/util/random.ts';
import { fixture, noise } from '../helpers/fixtures.ts';

const CODES = new Set(['ERR_WAV_INVALID', 'ERR_WAV_TRUNCATED', 'ERR_WAV_UNSUPPORTED', 'ERR_WAV_EMPTY']);
/** Slowest a single decode may take (the largest case is well under 1 MB). */
const MAX_MS = 2000;

function check(buf: Uint8Array, what: string): 'decoded' | string {
  const t = performance.now();
  try {
    const wav = decodeWav(buf, 'fuzz.wav');
    assert.ok(wav.samples instanceof Float32Array, `${what}: samples`);
    assert.ok(wav.samples.length > 0, `${what}: empty result instead of ERR_WAV_EMPTY`);
    assert.ok(wav.channels >= 1 && wav.sampleRateHz >= 1000 && wav.sampleRateHz <= 768000, `${what}: fields`);
    assert.ok(wav.encoding === 'int' ? wav.samples.every((v) => v >= -1 && v <= 1) : true, `${what}: integer PCM outside [-1, 1]`);
    return 'decoded';
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    assert.ok(e instanceof SoundeeError, `${what}: threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    assert.ok(CODES.has(e.code), `${what}: unexpected code ${e.code}`);
    assert.match(e.message, /^fuzz\.wav: /, `${what}: the message names the file`);
    return e.code;
  } finally {
    const ms = performance.now() - t;
    assert.ok(ms < MAX_MS, `${what}: took ${ms.toFixed(0)} ms`);
  }
}

const valid: [string, Uint8Array][] = [
  ['s16 mono', encodeWav(noise(0.05, 16000, 0.5, 1), 16000)],
  ['s24 stereo', encodeWav(noise(0.05, 16000, 0.5, 2), 16000, { channels: 2, bitsPerSample: 24 })],
  ['u8', encodeWav(noise(0.05, 8000, 0.5, 3), 8000, { bitsPerSample: 8 })],
  ['f32', encodeWav(noise(0.05, 44100, 0.5, 4), 44100, { encoding: 'float' })],
  ['fixture s32', new Uint8Array(readFileSync(fixture('sine1k-16k-s32-mono-0.5s.wav')))],
];

test('random bytes: clear errors only', () => {
  const rng = new Random(6001);
  const seen = new Map<string, number>();
  for (let i = 0; i < 400; i++) {
    const buf = Uint8Array.from({ length: rng.int(i < 200 ? 64 : 4096) }, () => rng.int(256));
    // half of them get a plausible RIFF/WAVE start, so the chunk walker is exercised
    if (i % 2 && buf.length >= 12) buf.set([0x52, 0x49, 0x46, 0x46, 0, 0, 0, 0, 0x57, 0x41, 0x56, 0x45], 0);
    const r = check(buf, `random case ${i}`);
    seen.set(r, (seen.get(r) ?? 0) + 1);
  }
  assert.ok((seen.get('ERR_WAV_INVALID') ?? 0) > 0, JSON.stringify([...seen]));
});

test('mutated valid files: header fields, flipped bits, cut ends, inserted chunks', () => {
  const rng = new Random(6002);
  const seen = new Map<string, number>();
  let n = 0;
  for (const [name, good] of valid) {
    assert.equal(check(good, name), 'decoded', `${name} decodes as it is`);
    for (let i = 0; i < 120; i++, n++) {
      const buf = Uint8Array.from(good);
      const dv = new DataView(buf.buffer);
      const kind = i % 6;
      if (kind === 0) {
        // a random value in a random header field (fmt and data headers are in the first 44 bytes)
        const off = rng.int(44);
        const width = [1, 2, 4][rng.int(3)]!;
        const v = [0, 1, 0xff, 0xffff, 0xffffffff, rng.int(2 ** 32)][rng.int(6)]!;
        for (let b = 0; b < width && off + b < buf.length; b++) buf[off + b] = (v >>> (8 * b)) & 0xff;
      } else if (kind === 1) {
        for (let k = 0; k < 1 + rng.int(8); k++) buf[rng.int(Math.min(buf.length, 64))]! ^= 1 << rng.int(8);
      } else if (kind === 2) {
        const r = check(buf.subarray(0, rng.int(buf.length)), `${name} cut, case ${i}`);
        seen.set(r, (seen.get(r) ?? 0) + 1);
        continue;
      } else if (kind === 3) {
        // channels, rate, block align and bits per sample set to extremes
        const field = [22, 24, 32, 34][rng.int(4)]!;
        if (field === 24) dv.setUint32(24, [0, 1, 999, 768001, 0xffffffff][rng.int(5)]!, true);
        else dv.setUint16(field, [0, 1, 3, 7, 12, 64, 0xffff][rng.int(7)]!, true);
      } else if (kind === 4) {
        // the data chunk's declared size: zero, huge, odd, one past the end
        dv.setUint32(40, [0, 1, 3, buf.length - 43, 0xfffffffe, 0x7fffffff][rng.int(6)]!, true);
      } else {
        // an unknown chunk with a random (possibly lying) size before fmt
        const junk = new Uint8Array(8 + rng.int(32));
        junk.set([0x4a, 0x55, 0x4e, 0x4b]);
        new DataView(junk.buffer).setUint32(4, [junk.length - 8, 0, 0xffffffff, rng.int(2 ** 32)][rng.int(4)]!, true);
        const out = new Uint8Array(buf.length + junk.length);
        out.set(buf.subarray(0, 12));
        out.set(junk, 12);
        out.set(buf.subarray(12), 12 + junk.length);
        const r = check(out, `${name} junk chunk, case ${i}`);
        seen.set(r, (seen.get(r) ?? 0) + 1);
        continue;
      }
      const r = check(buf, `${name} mutation ${kind}, case ${i}`);
      seen.set(r, (seen.get(r) ?? 0) + 1);
    }
  }
  assert.equal(n, valid.length * 120);
  // the mutations reach both outcomes and several error kinds
  assert.ok((seen.get('decoded') ?? 0) > 0 && seen.size >= 3, JSON.stringify([...seen]));
});
