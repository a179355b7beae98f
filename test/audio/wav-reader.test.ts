/**
 * WAV files read as a stream: the same samples as decoding the whole file (every format, any chunk
 * size), the same header checks and errors, files whose writer could not state the data size, and a
 * long file whose first chunk is decoded before the rest is read.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import wavefile from 'wavefile';
import { resample } from '../../src/audio/resample.ts';
import { decodeWav, encodeWav, readWav } from '../../src/audio/wav.ts';
import { WavReader, concatSamples, loadAudio } from '../../src/audio/wav-reader.ts';
import { Random } from '../../src/util/random.ts';
import { fixture, tempDir } from '../helpers/fixtures.ts';

let tmp: Awaited<ReturnType<typeof tempDir>>;
before(async () => (tmp = await tempDir()));
after(() => tmp.cleanup());

/** A WAV file built by hand: any format tag, bits and channels; `write(dv, offset, i)` stores sample i. */
function rawWav(
  { format, bits, channels, rate, frames }: { format: 1 | 3; bits: number; channels: number; rate: number; frames: number },
  write: (dv: DataView, offset: number, i: number) => void,
  dataSize?: number,
): Uint8Array {
  const bps = bits / 8;
  const data = frames * channels * bps;
  const buf = new Uint8Array(44 + data);
  const dv = new DataView(buf.buffer);
  const tag = (o: number, s: string) => {
    for (let i = 0; i < s.length; i++) dv.setUint8(o + i, s.charCodeAt(i));
  };
  tag(0, 'RIFF');
  dv.setUint32(4, dataSize === undefined ? 36 + data : 0xffffffff, true);
  tag(8, 'WAVE');
  tag(12, 'fmt ');
  dv.setUint32(16, 16, true);
  dv.setUint16(20, format, true);
  dv.setUint16(22, channels, true);
  dv.setUint32(24, rate, true);
  dv.setUint32(28, rate * channels * bps, true);
  dv.setUint16(32, channels * bps, true);
  dv.setUint16(34, bits, true);
  tag(36, 'data');
  dv.setUint32(40, dataSize ?? data, true);
  for (let i = 0; i < frames * channels; i++) write(dv, 44 + i * bps, i);
  return buf;
}

const rng = new Random(4242);
const FORMATS: Record<string, (channels: number, frames: number) => Uint8Array> = {
  u8: (ch, n) =>
    encodeWav(
      Float32Array.from({ length: n * ch }, () => rng.uniform(-1, 1)),
      22050,
      { channels: ch, bitsPerSample: 8 },
    ),
  s16: (ch, n) =>
    encodeWav(
      Float32Array.from({ length: n * ch }, () => rng.uniform(-1, 1)),
      44100,
      { channels: ch },
    ),
  s24: (ch, n) =>
    encodeWav(
      Float32Array.from({ length: n * ch }, () => rng.uniform(-1, 1)),
      48000,
      { channels: ch, bitsPerSample: 24 },
    ),
  s32: (ch, n) =>
    encodeWav(
      Float32Array.from({ length: n * ch }, () => rng.uniform(-1, 1)),
      16000,
      { channels: ch, bitsPerSample: 32 },
    ),
  f32: (ch, n) =>
    encodeWav(
      Float32Array.from({ length: n * ch }, () => rng.normal()),
      32000,
      { channels: ch, encoding: 'float' },
    ),
  f64: (ch, n) =>
    rawWav({ format: 3, bits: 64, channels: ch, rate: 8000, frames: n }, (dv, o) => dv.setFloat64(o, rng.uniform(-1.5, 1.5), true)),
};

const sameBits = (a: Float32Array, b: Float32Array) =>
  a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

async function readAll(path: string, chunkFrames?: number): Promise<Float32Array> {
  const r = await WavReader.open(path);
  const parts: Float32Array[] = [];
  for await (const c of r.chunks(chunkFrames)) parts.push(c);
  return concatSamples(parts);
}

test('chunk by chunk = the whole file, bit for bit: every format, 1–3 channels, any chunk size', async () => {
  for (const [name, make] of Object.entries(FORMATS)) {
    for (const channels of [1, 2, 3]) {
      const buf = make(channels, 5003);
      const path = join(tmp.dir, `${name}-${channels}.wav`);
      await writeFile(path, buf);
      const whole = decodeWav(buf, path).samples;
      assert.equal(whole.length, 5003);
      for (const chunk of [1, 37, 4096, 100_000])
        assert.ok(sameBits(await readAll(path, chunk), whole), `${name}, ${channels} ch, ${chunk}-frame chunks`);
    }
  }
});

test('the decoder gives wavefile’s samples for every format (the general path before)', () => {
  for (const [name, make] of Object.entries(FORMATS)) {
    for (const channels of [1, 2]) {
      const buf = make(channels, 2000);
      const wav = new wavefile.WaveFile(buf);
      const fmt = wav.fmt as { bitsPerSample: number; audioFormat: number };
      let ch = wav.getSamples(false, Float64Array) as unknown as Float64Array[] | Float64Array;
      if (!Array.isArray(ch)) ch = [ch];
      const float = fmt.audioFormat === 3;
      const scale = float ? 1 : fmt.bitsPerSample === 8 ? 1 / 128 : 1 / 2 ** (fmt.bitsPerSample - 1);
      const offset = !float && fmt.bitsPerSample === 8 ? 128 : 0;
      const want = new Float32Array(2000);
      for (const c of ch) for (let i = 0; i < want.length; i++) want[i]! += (c[i]! - offset) * scale;
      if (ch.length > 1) for (let i = 0; i < want.length; i++) want[i]! /= ch.length;
      assert.ok(sameBits(decodeWav(buf).samples, want), `${name}, ${channels} ch`);
    }
  }
});

test('a writer that could not state the data size (0xFFFFFFFF, as streaming writers and files over 4 GiB do): read to the end', async () => {
  const buf = rawWav(
    { format: 1, bits: 16, channels: 2, rate: 48000, frames: 48000 },
    (dv, o, i) => dv.setInt16(o, (i * 37) % 30000, true),
    0xffffffff,
  );
  const path = join(tmp.dir, 'streamed.wav');
  await writeFile(path, buf);
  const r = await WavReader.open(path);
  assert.equal(r.format.frames, 48000);
  assert.equal(r.durationSeconds, 1);
  await r.close();
  assert.ok(sameBits(await readAll(path, 1000), decodeWav(buf).samples));
});

test('header problems are refused at open with the errors decodeWav gives', async () => {
  for (const name of ['not-a-wav.wav', 'truncated-sine1k.wav', 'sine1k-8k-alaw-0.5s.wav']) {
    const whole = await readWav(fixture(name)).then(
      () => undefined,
      (e: { code: string; message: string }) => e,
    );
    await assert.rejects(WavReader.open(fixture(name)), { code: whole!.code, message: whole!.message });
  }
  await assert.rejects(WavReader.open(fixture('no-such.wav')), { code: 'ERR_FILE_NOT_FOUND', message: /no-such\.wav: no such file/ });
  await assert.rejects(WavReader.open(tmp.dir), { code: 'ERR_FILE_READ', message: /is a directory/ });
});

test('loadAudio is the stream of the file through the one resampling rule', async () => {
  const path = fixture('sine1k-44k1-s16-mono-0.5s.wav');
  const wav = decodeWav(new Uint8Array(readFileSync(path)));
  const viaStream = await loadAudio(path, 16000);
  assert.ok(sameBits(viaStream, await resample(wav.samples, 44100, 16000)));
  assert.equal(viaStream.length, Math.ceil((wav.samples.length * 16000) / 44100), 'the input’s duration exactly');
});

test('a long file is read a chunk at a time: the first chunk arrives having read one chunk', async () => {
  // 60 s of 48 kHz stereo 16-bit: 11.5 MB
  const frames = 60 * 48000;
  const buf = rawWav({ format: 1, bits: 16, channels: 2, rate: 48000, frames }, (dv, o, i) => dv.setInt16(o, (i % 2000) - 1000, true));
  const path = join(tmp.dir, 'long.wav');
  await writeFile(path, buf);
  const r = await WavReader.open(path);
  const it = r.chunks(48000);
  const first = await it.next();
  assert.equal((first.value as Float32Array).length, 48000);
  assert.equal(r.bytesRead, 48000 * 4, 'one chunk read, not the file');
  await it.return(undefined);
  await r.close();
});
