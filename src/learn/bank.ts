/**
 * The bank of negatives a model directory may carry: embeddings (not audio) of windows of other
 * sounds, computed by the model's own trunk, against which a new class is fitted so that it does not
 * fire on everything else. A model directory does not ship its dataset; without a bank, `soundee learn`
 * has only the user's `--negative` clips and a few noise windows to fit against (bench/fewshot.ts
 * measures the difference: README "Teach it your sound").
 *
 * Files: `negative-bank.json` (what, from where, for which trunk) and `negative-bank.bin` (float16,
 * count × dims, little-endian). The bank is valid only for the trunk it was computed with (a SHA-256
 * fingerprint of its weights) and the same embedding (dims).
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { type FeatureConfig, SoundeeError, diffFeatureConfig } from '../config.ts';
import { readDataset } from '../data/dataset-file.ts';
import { float32ToFloat16 } from '../model/io.ts';
import { expandInputs, loadClip, soundWindows } from './examples.ts';

export const BANK_FORMAT = 'soundee-negative-bank';
export const BANK_VERSION = 1;
export const BANK_JSON = 'negative-bank.json';
export const BANK_BIN = 'negative-bank.bin';

/** What `negative-bank.json` holds. */
export interface BankHeader {
  format: typeof BANK_FORMAT;
  version: number;
  /** Fingerprint of the trunk the embeddings were computed with (see trunkFingerprint). */
  trunk: string;
  dims: number;
  count: number;
  dtype: 'float16';
  /** Where the windows came from: a folder, file or dataset split, and how many windows each gave. */
  sources: { source: string; windows: number }[];
  createdAt: string;
}

/** A loaded bank. */
export interface Bank {
  header: BankHeader;
  /** count × dims. */
  emb: Float32Array;
}

/** A number from IEEE half-precision bits. */
export function float16ToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (mant / 1024);
  if (exp === 31) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exp - 15) * (1 + mant / 1024);
}

/** Reads a model directory's bank, or undefined when it has none. @throws SoundeeError ERR_LEARN_BANK for a damaged bank. */
export async function readBank(dir: string): Promise<Bank | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, BANK_JSON), 'utf8');
  } catch {
    return undefined;
  }
  let header: BankHeader;
  try {
    header = JSON.parse(text) as BankHeader;
  } catch (e) {
    throw new SoundeeError('ERR_LEARN_BANK', `${join(dir, BANK_JSON)}: not valid JSON (${(e as Error).message})`);
  }
  if (header.format !== BANK_FORMAT || header.version !== BANK_VERSION)
    throw new SoundeeError('ERR_LEARN_BANK', `${join(dir, BANK_JSON)}: not a Soundee negative bank (version ${BANK_VERSION})`);
  const raw = await readFile(join(dir, BANK_BIN)).catch(() => {
    throw new SoundeeError('ERR_LEARN_BANK', `${join(dir, BANK_BIN)} is missing (rebuild the bank: soundee learn --bank …)`);
  });
  if (raw.byteLength !== header.count * header.dims * 2)
    throw new SoundeeError('ERR_LEARN_BANK', `${join(dir, BANK_BIN)}: ${raw.byteLength} bytes, expected ${header.count * header.dims * 2}`);
  const h = new Uint16Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  return { header, emb: Float32Array.from(h, float16ToFloat32) };
}

/** Writes a bank into a model directory. */
export async function writeBank(dir: string, bank: Bank): Promise<void> {
  const h = Uint16Array.from(bank.emb, float32ToFloat16);
  await writeFile(join(dir, BANK_BIN), new Uint8Array(h.buffer));
  await writeFile(join(dir, BANK_JSON), `${JSON.stringify(bank.header, null, 2)}\n`);
}

/** Model-input images of bank sources, at most `perSource` windows from each (spread evenly). */
export async function bankImages(
  inputs: readonly string[],
  c: FeatureConfig,
  { perSource = 1000, onProgress }: { perSource?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<{ images: Uint8Array[]; sources: { source: string; windows: number }[] }> {
  const images: Uint8Array[] = [];
  const sources: { source: string; windows: number }[] = [];
  const spread = <T>(xs: T[], n: number) =>
    xs.length <= n ? xs : Array.from({ length: n }, (_, k) => xs[Math.floor((k * xs.length) / n)]!);
  for (const [k, input] of inputs.entries()) {
    const st = await stat(input).catch(() => undefined);
    if (st?.isFile() && input.endsWith('.sdset')) {
      // a dataset file: its train split (the held-out splits stay held out)
      const ds = await readDataset(input);
      if (!ds.header.features || diffFeatureConfig(ds.header.features, c).length)
        throw new SoundeeError('ERR_MODEL_MISMATCH', `${input} was rendered with other feature settings than the model's; rebuild it`);
      const picked = spread(ds.indices('train'), perSource).map((i) => ds.image(i));
      images.push(...picked);
      sources.push({ source: `${basename(input)} (train split)`, windows: picked.length });
    } else {
      const files = await expandInputs([input]);
      const per = Math.max(1, Math.ceil(perSource / files.length));
      let n = 0;
      for (const f of files) {
        const clip = await loadClip(f, c);
        const picked = spread(soundWindows(clip.windows, { rangeDb: Number.POSITIVE_INFINITY }), per).map((i) => clip.images[i]!);
        images.push(...picked);
        n += picked.length;
      }
      sources.push({ source: basename(input), windows: n });
    }
    onProgress?.(k + 1, inputs.length);
  }
  return { images, sources };
}
