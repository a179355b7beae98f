/**
 * Raw PCM bytes → Float32 samples, for byte streams whose chunks may split a sample (microphone
 * pipes, WebSocket frames).
 */
import { SoundeeError } from '../config.ts';

import type { PcmFormat } from '../protocol/constants.ts';

export { PCM_FORMATS, type PcmFormat } from '../protocol/constants.ts';

/** Bytes per sample of a PCM format. */
export const bytesPerSample = (f: PcmFormat): number => (f === 's16le' ? 2 : 4);

/** Converts whole samples; `bytes.length` must be a multiple of the sample size. */
export function decodePcm(bytes: Uint8Array, format: PcmFormat): Float32Array {
  const bps = bytesPerSample(format);
  if (bytes.length % bps !== 0)
    throw new SoundeeError('ERR_PCM_ALIGNMENT', `${bytes.length} bytes is not a whole number of ${format} samples (${bps} bytes each)`);
  const n = bytes.length / bps;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  if (format === 's16le') for (let i = 0; i < n; i++) out[i] = dv.getInt16(2 * i, true) / 32768;
  else
    for (let i = 0; i < n; i++) {
      const v = dv.getFloat32(4 * i, true);
      // NaN/Inf from a broken sender must not poison the spectrogram.
      out[i] = Number.isFinite(v) ? Math.max(-1, Math.min(1, v)) : 0;
    }
  return out;
}

/** Encodes samples in [-1, 1] as PCM bytes. */
export function encodePcm(samples: Float32Array, format: PcmFormat): Uint8Array {
  const out = new Uint8Array(samples.length * bytesPerSample(format));
  const dv = new DataView(out.buffer);
  if (format === 's16le')
    for (let i = 0; i < samples.length; i++) dv.setInt16(2 * i, Math.max(-32768, Math.min(32767, Math.round(samples[i]! * 32768))), true);
  else for (let i = 0; i < samples.length; i++) dv.setFloat32(4 * i, samples[i]!, true);
  return out;
}

/**
 * Cuts a byte stream into whole samples: each chunk gives back the complete samples so far, and a
 * sample split across chunks is carried over to the next.
 */
export class SampleAligner {
  private carry = new Uint8Array(0);
  constructor(readonly format: PcmFormat) {}

  /** The whole samples of what came so far (bytes), holding back an incomplete one. */
  push(chunk: Uint8Array): Uint8Array {
    const bps = bytesPerSample(this.format);
    let bytes = chunk;
    if (this.carry.length) {
      bytes = new Uint8Array(this.carry.length + chunk.length);
      bytes.set(this.carry);
      bytes.set(chunk, this.carry.length);
    }
    const whole = bytes.length - (bytes.length % bps);
    this.carry = bytes.slice(whole);
    return bytes.subarray(0, whole);
  }

  /** Bytes of an incomplete sample held back. */
  get pendingBytes(): number {
    return this.carry.length;
  }
}

/**
 * Decodes a byte stream chunk by chunk, carrying a split sample over to the next chunk, so that any
 * chunking of the same bytes yields the same samples.
 */
export class PcmDecoder {
  private readonly aligner: SampleAligner;
  constructor(readonly format: PcmFormat) {
    this.aligner = new SampleAligner(format);
  }

  push(chunk: Uint8Array): Float32Array {
    return decodePcm(this.aligner.push(chunk), this.format);
  }

  /** Bytes of an incomplete sample held back. */
  get pendingBytes(): number {
    return this.aligner.pendingBytes;
  }
}
