/**
 * WAV in and out. Decoding uses `wavefile`; before decoding, the RIFF structure is checked here so that
 * a file that is not a WAV, is truncated, or has an unsupported encoding is refused with an error that
 * names the file and the problem (wavefile alone silently decodes a truncated file as a shorter one).
 */
import { readFile, writeFile } from 'node:fs/promises';
import wavefile from 'wavefile';
import { SoundeeError } from '../config.ts';

/** What a WAV file holds, decoded and downmixed to mono. */
export interface DecodedWav {
  /** Native sample rate of the file. */
  readonly sampleRateHz: number;
  readonly channels: number;
  readonly bitsPerSample: number;
  readonly encoding: 'int' | 'float';
  /** Mono samples in [-1, 1] (channels averaged). */
  readonly samples: Float32Array;
}

/** The format of a WAV file's audio and where it lies, as read from its header (checked). */
export interface WavFormat {
  readonly sampleRateHz: number;
  readonly channels: number;
  readonly bitsPerSample: number;
  readonly encoding: 'int' | 'float';
  /** Bytes per frame (all channels of one sample time). */
  readonly blockAlign: number;
  /** Byte offset of the data chunk's body in the file. */
  readonly dataOffset: number;
  /** Whole frames in the data chunk. */
  readonly frames: number;
}

const FORMAT_PCM = 1;
const FORMAT_FLOAT = 3;
const FORMAT_EXTENSIBLE = 0xfffe;

function wavError(file: string, problem: string, code = 'ERR_WAV_INVALID'): never {
  throw new SoundeeError(code, `${file}: ${problem}`);
}

/** Random access to the bytes of a WAV file (a buffer in memory, or positioned reads of a file). */
export interface ByteSource {
  /** Total bytes. */
  readonly size: number;
  /** Up to `length` bytes from `offset` (fewer at the end). */
  read(offset: number, length: number): Uint8Array;
}

/** A buffer as a ByteSource. */
export const bufferSource = (buf: Uint8Array): ByteSource => ({
  size: buf.length,
  read: (offset, length) => buf.subarray(offset, Math.min(buf.length, offset + length)),
});

interface RawFmt {
  format: number;
  channels: number;
  sampleRateHz: number;
  bitsPerSample: number;
  blockAlign: number;
}

const tag = (b: Uint8Array, o: number) => String.fromCharCode(b[o]!, b[o + 1]!, b[o + 2]!, b[o + 3]!);
const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Walks the RIFF chunks up to the data chunk and checks them against the file's length. */
function walkChunks(src: ByteSource, file: string): { fmt: RawFmt; dataBytes: number; dataOffset: number } {
  const head = src.read(0, 12);
  if (head.length < 12) wavError(file, `not a WAV file (only ${head.length} bytes)`);
  const riff = tag(head, 0);
  if (riff === 'RF64' || riff === 'RIFX')
    wavError(file, `${riff} WAV files are not supported; convert with: sox "${file}" -b 16 out.wav`, 'ERR_WAV_UNSUPPORTED');
  if (riff !== 'RIFF' || tag(head, 8) !== 'WAVE') wavError(file, 'not a WAV file (no RIFF/WAVE header)');
  let fmt: RawFmt | undefined;
  let off = 12;
  while (off + 8 <= src.size) {
    const header = src.read(off, 8);
    const id = tag(header, 0);
    const size = view(header).getUint32(4, true);
    const body = off + 8;
    if (id === 'fmt ') {
      if (size < 16) wavError(file, `malformed fmt chunk (${size} bytes)`);
      if (body + 16 > src.size) wavError(file, 'truncated inside the fmt chunk', 'ERR_WAV_TRUNCATED');
      const f = src.read(body, Math.min(size, 40));
      const dv = view(f);
      let format = dv.getUint16(0, true);
      if (format === FORMAT_EXTENSIBLE && size >= 40 && f.length >= 26) format = dv.getUint16(24, true);
      fmt = {
        format,
        channels: dv.getUint16(2, true),
        sampleRateHz: dv.getUint32(4, true),
        blockAlign: dv.getUint16(12, true),
        bitsPerSample: dv.getUint16(14, true),
      };
    } else if (id === 'data') {
      if (!fmt) wavError(file, 'data chunk before fmt chunk');
      const present = src.size - body;
      // Streaming writers leave 0 or 0xFFFFFFFF as the size (and files over 4 GiB cannot state theirs): the data runs to the end.
      const declared = size === 0 || size === 0xffffffff ? present : size;
      if (declared > present)
        wavError(file, `truncated: the header declares ${declared} bytes of audio but only ${present} are present`, 'ERR_WAV_TRUNCATED');
      return { fmt, dataBytes: declared, dataOffset: body };
    }
    off = body + size + (size & 1);
  }
  wavError(file, fmt ? 'no data chunk (truncated?)' : 'no fmt chunk (truncated?)', 'ERR_WAV_TRUNCATED');
}

/**
 * Reads and checks a WAV header: 8/16/24/32-bit integer or 32/64-bit float PCM, any channel count.
 * @param name used in error messages.
 * @throws SoundeeError ERR_WAV_INVALID | ERR_WAV_TRUNCATED | ERR_WAV_UNSUPPORTED | ERR_WAV_EMPTY.
 */
export function readWavFormat(src: ByteSource, name = 'WAV'): WavFormat {
  const { fmt, dataBytes, dataOffset } = walkChunks(src, name);
  const { format, channels, sampleRateHz, bitsPerSample, blockAlign } = fmt;
  if (format !== FORMAT_PCM && format !== FORMAT_FLOAT)
    wavError(
      name,
      `unsupported encoding (format tag ${format}); only integer and float PCM are read. Convert with: sox "${name}" -b 16 -e signed-integer out.wav`,
      'ERR_WAV_UNSUPPORTED',
    );
  const intOk = format === FORMAT_PCM && [8, 16, 24, 32].includes(bitsPerSample);
  const floatOk = format === FORMAT_FLOAT && (bitsPerSample === 32 || bitsPerSample === 64);
  if (!intOk && !floatOk)
    wavError(
      name,
      `unsupported sample format: ${bitsPerSample}-bit ${format === FORMAT_FLOAT ? 'float' : 'integer'}`,
      'ERR_WAV_UNSUPPORTED',
    );
  if (channels < 1) wavError(name, 'the fmt chunk declares 0 channels');
  if (sampleRateHz < 1000 || sampleRateHz > 768000) wavError(name, `implausible sample rate ${sampleRateHz} Hz`);
  if (blockAlign !== channels * (bitsPerSample / 8))
    wavError(name, `inconsistent fmt chunk (block align ${blockAlign} for ${channels}×${bitsPerSample}-bit)`);
  const frames = Math.floor(dataBytes / blockAlign);
  if (frames === 0) wavError(name, 'contains no audio samples', 'ERR_WAV_EMPTY');
  return { sampleRateHz, channels, bitsPerSample, encoding: format === FORMAT_FLOAT ? 'float' : 'int', blockAlign, dataOffset, frames };
}

/** Reads sample `o` (byte offset) of a format as a number: integers as they are stored, floats as floats. */
function sampleReader(f: WavFormat, dv: DataView): (o: number) => number {
  if (f.encoding === 'float') return f.bitsPerSample === 32 ? (o) => dv.getFloat32(o, true) : (o) => dv.getFloat64(o, true);
  switch (f.bitsPerSample) {
    case 8:
      return (o) => dv.getUint8(o);
    case 16:
      return (o) => dv.getInt16(o, true);
    case 24:
      return (o) => dv.getUint8(o) | (dv.getUint8(o + 1) << 8) | (dv.getInt8(o + 2) << 16);
    default:
      return (o) => dv.getInt32(o, true);
  }
}

/**
 * Decodes whole frames of a format's data to mono: (sample − offset) · scale summed over the channels
 * in a Float32Array, then divided by the channel count (8-bit WAV is unsigned with a 128 offset;
 * integers are scaled to [-1, 1)). Each frame is decoded on its own, so decoding a file chunk by chunk
 * gives the samples of decoding it whole, bit for bit (a test checks this, and that the samples are
 * those of wavefile's generic unpacking).
 * @param bytes a whole number of frames.
 */
export function decodeFrames(bytes: Uint8Array, f: WavFormat): Float32Array {
  const frames = Math.floor(bytes.length / f.blockAlign);
  const mono = new Float32Array(frames);
  const read = sampleReader(f, view(bytes));
  const scale = f.encoding === 'float' ? 1 : f.bitsPerSample === 8 ? 1 / 128 : 1 / 2 ** (f.bitsPerSample - 1);
  const offset = f.encoding === 'int' && f.bitsPerSample === 8 ? 128 : 0;
  const step = f.bitsPerSample / 8;
  for (let c = 0; c < f.channels; c++) {
    for (let i = 0, o = c * step; i < frames; i++, o += f.blockAlign) mono[i]! += (read(o) - offset) * scale;
  }
  if (f.channels > 1) for (let i = 0; i < frames; i++) mono[i]! /= f.channels;
  return mono;
}

/**
 * Decodes a WAV file held in memory.
 * Supports 8/16/24/32-bit integer and 32/64-bit float PCM, any channel count (averaged to mono).
 * @param name used in error messages.
 * @throws SoundeeError ERR_WAV_INVALID | ERR_WAV_TRUNCATED | ERR_WAV_UNSUPPORTED | ERR_WAV_EMPTY.
 */
export function decodeWav(buf: Uint8Array, name = 'WAV'): DecodedWav {
  const f = readWavFormat(bufferSource(buf), name);
  const samples = decodeFrames(buf.subarray(f.dataOffset, f.dataOffset + f.frames * f.blockAlign), f);
  return { sampleRateHz: f.sampleRateHz, channels: f.channels, bitsPerSample: f.bitsPerSample, encoding: f.encoding, samples };
}

/** Reads and decodes a whole WAV file (see decodeWav). For long files use `WavReader`, which reads it chunk by chunk. */
export async function readWav(path: string): Promise<DecodedWav> {
  let buf: Uint8Array;
  try {
    buf = await readFile(path);
  } catch (e) {
    throw fileError(path, e);
  }
  return decodeWav(buf, path);
}

/** The SoundeeError of a file that cannot be opened or read. */
export function fileError(path: string, e: unknown): SoundeeError {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOENT') return new SoundeeError('ERR_FILE_NOT_FOUND', `${path}: no such file`);
  if (err.code === 'EISDIR') return new SoundeeError('ERR_FILE_READ', `${path}: is a directory, not a WAV file`);
  return new SoundeeError('ERR_FILE_READ', `${path}: ${err.message}`);
}

/** Encodes mono or interleaved samples in [-1, 1] as a WAV file. */
export function encodeWav(
  samples: Float32Array,
  sampleRateHz: number,
  {
    channels = 1,
    bitsPerSample = 16,
    encoding = 'int',
  }: { channels?: number; bitsPerSample?: 8 | 16 | 24 | 32; encoding?: 'int' | 'float' } = {},
): Uint8Array {
  const wav = new wavefile.WaveFile();
  if (encoding === 'float') {
    wav.fromScratch(channels, sampleRateHz, '32f', Float64Array.from(samples));
  } else {
    const max = 2 ** (bitsPerSample - 1);
    const ints = Float64Array.from(samples, (v) => {
      const s = Math.max(-max, Math.min(max - 1, Math.round(v * max)));
      return bitsPerSample === 8 ? s + 128 : s;
    });
    wav.fromScratch(channels, sampleRateHz, String(bitsPerSample), ints);
  }
  return wav.toBuffer();
}

/** Writes samples as a WAV file (16-bit integer by default). */
export async function writeWav(
  path: string,
  samples: Float32Array,
  sampleRateHz: number,
  opts?: Parameters<typeof encodeWav>[2],
): Promise<void> {
  await writeFile(path, encodeWav(samples, sampleRateHz, opts));
}
