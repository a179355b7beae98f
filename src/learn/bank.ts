/**
 * The bank of negatives a model directory may carry: embeddings (not audio) of windows of other
 * sounds, computed by the model's own trunk, against which a new class is fitted so that it does not
 * fire on everything else. A model directory does not ship its dataset; without a bank, `soundee learn`
 * has only the user's `--negative` clips and a few noise windows to fit against (bench/fewshot.ts
 * measures the difference: README "Teach it your sound").
 *
 * Files: `negative-bank.json` (what, from where, for which trunk, and each feature's range) and
 * `negative-bank.bin` (count × dims bytes: each feature quantised to 256 levels over its range, which
 * moves a value by at most 1/510 of the range — far less than the fit's regularisation notices). The bank is valid only for the trunk it was computed with (a SHA-256
 * fingerprint of its weights) and the same embedding (dims).
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { type FeatureConfig, SoundeeError, diffFeatureConfig } from '../config.ts';
import { readDataset } from '../data/dataset-file.ts';
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
  dtype: 'uint8';
  /** Per feature: the value of level 0 and the step between levels. */
  min: number[];
  step: number[];
  /** Where the windows came from: a folder, file or dataset split, and how many windows each gave. */
  sources: { source: string; windows: number }[];
  createdAt: string;
}

/** A loaded bank. */
export interface Bank {
  /** The model directory it was read from. */
  dir: string;
  header: BankHeader;
  /** count × dims. */
  emb: Float32Array;
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
  if (raw.byteLength !== header.count * header.dims || header.min?.length !== header.dims || header.step?.length !== header.dims)
    throw new SoundeeError(
      'ERR_LEARN_BANK',
      `${join(dir, BANK_BIN)}: ${raw.byteLength} bytes for ${header.count} × ${header.dims} features; rebuild the bank`,
    );
  const d = header.dims;
  return { dir, header, emb: Float32Array.from(raw, (q, i) => header.min[i % d]! + header.step[i % d]! * q) };
}

/** Quantises embeddings per feature (256 levels over each feature's range). */
export function quantizeBank(emb: Float32Array, dims: number): { data: Uint8Array; min: number[]; step: number[] } {
  const min = Array.from({ length: dims }, () => Number.POSITIVE_INFINITY);
  const max = Array.from({ length: dims }, () => Number.NEGATIVE_INFINITY);
  emb.forEach((v, i) => {
    const j = i % dims;
    if (v < min[j]!) min[j] = v;
    if (v > max[j]!) max[j] = v;
  });
  const step = min.map((lo, j) => (max[j]! > lo ? (max[j]! - lo) / 255 : 1));
  const data = Uint8Array.from(emb, (v, i) => Math.round((v - min[i % dims]!) / step[i % dims]!));
  return { data, min, step };
}

/** Writes a bank (its header's min and step as `quantizeBank` gives them) into a model directory. */
export async function writeBank(dir: string, header: BankHeader, data: Uint8Array): Promise<void> {
  await writeFile(join(dir, BANK_BIN), data);
  await writeFile(join(dir, BANK_JSON), `${JSON.stringify(header)}\n`);
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
      // every window of every file loud enough for the level gate, then `perSource` of them spread over all
      const files = await expandInputs([input]);
      const found: Uint8Array[] = [];
      for (const f of files) {
        const clip = await loadClip(f, c);
        found.push(...soundWindows(clip.windows, { rangeDb: Number.POSITIVE_INFINITY }).map((i) => clip.images[i]!));
      }
      const picked = spread(found, perSource);
      images.push(...picked);
      sources.push({ source: input, windows: picked.length });
    }
    onProgress?.(k + 1, inputs.length);
  }
  return { images, sources };
}
