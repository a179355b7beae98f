/**
 * The versioned binary dataset file (`.sdset`): a JSON header (format version, feature config, class
 * list, one record per item with its clip, group, package and split), then every item's rendered model-input
 * image (uint8, imageSize²·3, HWC) and, for audio datasets, every item's window of audio (int16), so
 * that training can augment the waveform and re-render it through the same feature path.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { type FeatureConfig, SoundeeError, resolveFeatureConfig } from '../config.ts';
import type { Split } from './split.ts';

export const DATASET_FORMAT = 'soundee-dataset';
/** Version 2 added each item's `package`; version 1 files (without it) are still read. */
export const DATASET_VERSION = 2;
const READABLE_VERSIONS: readonly number[] = [1, 2];
const MAGIC = 'SNDEEDS\n';

export interface DatasetItem {
  /** Source clip, relative to the dataset root. */
  clip: string;
  /** Class index into `classes`. */
  label: number;
  group: string;
  /**
   * The package (recording source) the clip came from, from the manifest's `package` column: the unit
   * of cross-validation (`soundee cv`). Absent in version 1 files and for clips without a manifest.
   */
  package?: string;
  split: Split;
  /** Window number within the clip (clips longer than a window give several items). */
  window: number;
}

export interface DatasetHeader {
  format: typeof DATASET_FORMAT;
  version: number;
  createdAt: string;
  /** Where the clips came from. */
  source: string;
  /** 'audio' (clips rendered by Soundee) or 'images' (imported spectrogram images). */
  kind: 'audio' | 'images';
  /** The feature config every item was rendered with (null for imported images). */
  features: FeatureConfig | null;
  /** Sorted class names; item labels index into this. */
  classes: string[];
  imageSize: number;
  /** Audio block layout, when kind is 'audio'. */
  audio: { sampleRateHz: number; samplesPerItem: number } | null;
  split: { seed: number; ratios: [number, number, number] };
  items: DatasetItem[];
  /** Clips that could not be used, with the reason. */
  skipped: { clip: string; reason: string }[];
}

/** A dataset in memory. */
export class Dataset {
  constructor(
    readonly header: DatasetHeader,
    /** N · imageSize² · 3 bytes. */
    readonly images: Uint8Array,
    /** N · samplesPerItem int16 samples, or null. */
    readonly audio: Int16Array | null,
  ) {
    const n = header.items.length;
    const px = header.imageSize * header.imageSize * 3;
    if (images.length !== n * px) throw new SoundeeError('ERR_DATASET', `image block has ${images.length} bytes, expected ${n * px}`);
    if (header.audio && (!audio || audio.length !== n * header.audio.samplesPerItem))
      throw new SoundeeError('ERR_DATASET', `audio block has ${audio?.length ?? 0} samples, expected ${n * header.audio.samplesPerItem}`);
  }

  get size(): number {
    return this.header.items.length;
  }

  get classes(): string[] {
    return this.header.classes;
  }

  /** Indices of the items in a split. */
  indices(split: Split): number[] {
    const out: number[] = [];
    this.header.items.forEach((it, i) => {
      it.split === split && out.push(i);
    });
    return out;
  }

  /** The stored model-input image of item i (a view, not a copy). */
  image(i: number): Uint8Array {
    const px = this.header.imageSize * this.header.imageSize * 3;
    return this.images.subarray(i * px, (i + 1) * px);
  }

  /** The window of audio of item i as floats in [-1, 1). */
  samples(i: number): Float32Array {
    if (!this.audio || !this.header.audio)
      throw new SoundeeError('ERR_DATASET', 'this dataset holds images only (no audio to augment or re-render)');
    const n = this.header.audio.samplesPerItem;
    const out = new Float32Array(n);
    const src = this.audio.subarray(i * n, (i + 1) * n);
    for (let k = 0; k < n; k++) out[k] = src[k]! / 32768;
    return out;
  }

  /** Items per class per split, for reports. */
  counts(): Record<Split, number[]> {
    const c = { train: this.classes.map(() => 0), valid: this.classes.map(() => 0), test: this.classes.map(() => 0) };
    for (const it of this.header.items) c[it.split][it.label]!++;
    return c;
  }
}

/** Writes a dataset file atomically. */
export async function writeDataset(path: string, ds: Dataset): Promise<void> {
  const header = new TextEncoder().encode(JSON.stringify(ds.header));
  const pad = (4 - ((MAGIC.length + 4 + header.length) % 4)) % 4;
  const headLen = MAGIC.length + 4 + header.length + pad;
  const audioBytes = ds.audio ? ds.audio.byteLength : 0;
  const imgPad = (4 - (ds.images.length % 4)) % 4;
  const out = new Uint8Array(headLen + ds.images.length + imgPad + audioBytes);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(MAGIC.length, header.length + pad, true);
  out.set(header, MAGIC.length + 4);
  out.fill(0x20, MAGIC.length + 4 + header.length, headLen); // pad the JSON with spaces
  out.set(ds.images, headLen);
  if (ds.audio) out.set(new Uint8Array(ds.audio.buffer, ds.audio.byteOffset, audioBytes), headLen + ds.images.length + imgPad);
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, out);
  await rename(tmp, path);
}

/**
 * Reads a dataset file.
 * @throws SoundeeError ERR_DATASET for a file that is not a dataset, of another version, or truncated.
 */
export async function readDataset(path: string): Promise<Dataset> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    throw new SoundeeError(
      'ERR_DATASET',
      `${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
    );
  }
  if (buf.length < MAGIC.length + 4 || buf.subarray(0, MAGIC.length).toString('latin1') !== MAGIC)
    throw new SoundeeError(
      'ERR_DATASET',
      `${path}: not a Soundee dataset file (build one with: soundee dataset build <dir> --out ${path})`,
    );
  const hlen = buf.readUInt32LE(MAGIC.length);
  let header: DatasetHeader;
  try {
    header = JSON.parse(buf.subarray(MAGIC.length + 4, MAGIC.length + 4 + hlen).toString('utf8')) as DatasetHeader;
  } catch {
    throw new SoundeeError('ERR_DATASET', `${path}: corrupt header`);
  }
  if (header.format !== DATASET_FORMAT || !READABLE_VERSIONS.includes(header.version))
    throw new SoundeeError(
      'ERR_DATASET',
      `${path}: dataset format ${header.format} v${header.version} is not supported (expects ${DATASET_FORMAT} v${READABLE_VERSIONS.join(' or v')}); rebuild it`,
    );
  if (header.features) header.features = resolveFeatureConfig(header.features);
  const headLen = MAGIC.length + 4 + hlen;
  const n = header.items.length;
  const imgLen = n * header.imageSize * header.imageSize * 3;
  const imgPad = (4 - (imgLen % 4)) % 4;
  const audioLen = header.audio ? n * header.audio.samplesPerItem * 2 : 0;
  if (buf.length < headLen + imgLen + (header.audio ? imgPad + audioLen : 0))
    throw new SoundeeError('ERR_DATASET', `${path}: truncated (${buf.length} bytes)`);
  const images = new Uint8Array(buf.buffer, buf.byteOffset + headLen, imgLen);
  let audio: Int16Array | null = null;
  if (header.audio) {
    const start = buf.byteOffset + headLen + imgLen + imgPad;
    // Int16Array needs 2-byte alignment of the underlying offset; copy when Buffer's pool offset is odd.
    audio = start % 2 === 0 ? new Int16Array(buf.buffer, start, audioLen / 2) : new Int16Array(buf.buffer.slice(start, start + audioLen));
  }
  return new Dataset(header, images, audio);
}
