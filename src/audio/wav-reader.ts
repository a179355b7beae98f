/**
 * WAV files read as a stream: the header is read and checked once (the same checks and errors as
 * `decodeWav`), then the data chunk is read and decoded a chunk at a time, so memory stays flat
 * whatever the length of the file (a 10-hour recording is read like a 1-second clip).
 */
import { type FileHandle, open } from 'node:fs/promises';
import { readSync } from 'node:fs';
import { type ByteSource, type WavFormat, decodeFrames, fileError, readWavFormat } from './wav.ts';
import type { Resampler } from '../config.ts';
import { StreamResampler } from './resample.ts';

/** Defaults of the file reader. */
export const DEFAULT_WAV_READER = Object.freeze({
  /** Frames decoded per read: 1 s at 48 kHz (288 KiB of 48 kHz stereo 24-bit). */
  chunkFrames: 48_000,
});

/** An open WAV file, read chunk by chunk. */
export class WavReader {
  private bytes = 0;
  private closed = false;

  private constructor(
    private readonly fh: FileHandle,
    /** The file's format (checked). */
    readonly format: WavFormat,
    /** The path, as given (used in error messages). */
    readonly path: string,
  ) {}

  /**
   * Opens a WAV file and reads its header.
   * @throws SoundeeError ERR_FILE_NOT_FOUND | ERR_FILE_READ, or the header errors of `readWavFormat`.
   */
  static async open(path: string): Promise<WavReader> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      throw fileError(path, e);
    }
    try {
      const stat = await fh.stat();
      if (stat.isDirectory()) throw fileError(path, Object.assign(new Error('is a directory'), { code: 'EISDIR' }));
      const size = stat.size;
      // header chunks are small: positioned reads of a few bytes each, straight from the descriptor
      const src: ByteSource = {
        size,
        read(offset, length) {
          const n = Math.max(0, Math.min(length, size - offset));
          const b = new Uint8Array(n);
          let got = 0;
          while (got < n) {
            const r = readSync(fh.fd, b, got, n - got, offset + got);
            if (r === 0) break;
            got += r;
          }
          return b.subarray(0, got);
        },
      };
      return new WavReader(fh, readWavFormat(src, path), path);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** The file's sample rate. */
  get sampleRateHz(): number {
    return this.format.sampleRateHz;
  }

  /** Duration of the audio, seconds. */
  get durationSeconds(): number {
    return this.format.frames / this.format.sampleRateHz;
  }

  /** Bytes of audio read so far. */
  get bytesRead(): number {
    return this.bytes;
  }

  /**
   * The audio as mono Float32 chunks of `chunkFrames` frames (the last one shorter), decoded exactly as
   * `decodeWav` decodes the whole file. Reading once is the contract: a second call starts again from
   * the beginning of the data. The file is closed when the iteration ends (or is abandoned).
   * @throws SoundeeError ERR_FILE_READ when reading fails, ERR_WAV_TRUNCATED when the file shrank.
   */
  async *chunks(chunkFrames: number = DEFAULT_WAV_READER.chunkFrames): AsyncGenerator<Float32Array> {
    if (!(Number.isInteger(chunkFrames) && chunkFrames >= 1))
      throw new RangeError(`chunkFrames must be a positive integer, got ${chunkFrames}`);
    const f = this.format;
    const buf = new Uint8Array(chunkFrames * f.blockAlign);
    try {
      for (let frame = 0; frame < f.frames; ) {
        const n = Math.min(chunkFrames, f.frames - frame);
        const want = n * f.blockAlign;
        let got = 0;
        while (got < want) {
          let r: number;
          try {
            ({ bytesRead: r } = await this.fh.read(buf, got, want - got, f.dataOffset + frame * f.blockAlign + got));
          } catch (e) {
            throw fileError(this.path, e);
          }
          if (r === 0) throw fileError(this.path, new Error('the file became shorter while it was read'));
          got += r;
        }
        this.bytes += want;
        frame += n;
        yield decodeFrames(buf.subarray(0, want), f);
      }
    } finally {
      await this.close();
    }
  }

  /** Closes the file (idempotent). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }
}

/**
 * Reads a WAV file as mono samples at `sampleRateHz`: decoded chunk by chunk and resampled by the one
 * streaming rule (`StreamResampler`) when the file's rate differs, so the samples are exactly those a
 * stream of the same file gives. For clips; long recordings should be streamed (`WavReader.chunks`).
 */
export async function loadAudio(path: string, sampleRateHz: number, resampler?: Resampler): Promise<Float32Array> {
  const reader = await WavReader.open(path);
  const parts: Float32Array[] = [];
  let rs: StreamResampler | undefined;
  try {
    if (reader.sampleRateHz !== sampleRateHz) rs = await StreamResampler.create(reader.sampleRateHz, sampleRateHz, resampler);
    for await (const chunk of reader.chunks()) parts.push(rs ? rs.push(chunk) : chunk);
    if (rs) parts.push(rs.flush());
  } finally {
    rs?.destroy();
    await reader.close();
  }
  return concatSamples(parts);
}

/** Joins sample arrays end to end (the one itself when there is one). */
export function concatSamples(parts: readonly Float32Array[]): Float32Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
