/**
 * Building datasets: labelled clips → windows → model-input images through the one feature path
 * (the same Framer and renderWindowImage that replay and live listening use).
 */
import { basename, resolve } from 'node:path';
import sharp from 'sharp';
import { type FeatureConfig, SoundeeError, windowSamples } from '../config.ts';
import { loadAudio } from '../audio/wav-reader.ts';
import { renderClip } from '../features/clip.ts';
import { Dataset, type DatasetHeader, type DatasetItem, DATASET_FORMAT, DATASET_VERSION } from './dataset-file.ts';
import { type ClipRef, scanClips } from './scan.ts';
import { DEFAULT_RATIOS, type Split, splitByGroup } from './split.ts';

export interface BuildOptions {
  features: FeatureConfig;
  /** CSV manifest (clip, class, group); default `<dir>/manifest.csv` when present. */
  manifest?: string;
  seed?: number;
  ratios?: [number, number, number];
  /** 'skip' (default): report bad clips and go on; 'fail': stop at the first. */
  onError?: 'skip' | 'fail';
  /** Clips rendered at once. Default 4. */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  /**
   * Folders of extra clips (same layout rules, their own manifest.csv when present) that go to the
   * train split only: the primary folder's split is unchanged, so valid and test still measure the
   * same held-out recordings. Their classes must be classes of the primary folder. Clip ids and groups
   * are prefixed with `extra<k>:`.
   */
  extraTrain?: string[];
}

async function pool<T>(items: readonly T[], concurrency: number, fn: (x: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/**
 * The labelled clips of one or more folders. With several folders every clip id and group is prefixed
 * with its folder's name (`extra:birds/x.wav`), so ids stay unique and a group never spans folders.
 */
async function scanFolders(
  dirs: readonly string[],
  manifest: string | undefined,
): Promise<{ clips: ClipRef[]; unlabelled: string[]; problems: { clip: string; reason: string }[] }> {
  if (manifest && dirs.length > 1) throw new SoundeeError('ERR_DATASET', 'a manifest path can only be given for a single folder');
  const clips: ClipRef[] = [];
  const unlabelled: string[] = [];
  const problems: { clip: string; reason: string }[] = [];
  const tags = new Set<string>();
  for (const dir of dirs) {
    const scan = await scanClips(dir, manifest ? { manifest } : {});
    let tag = '';
    if (dirs.length > 1) {
      const base = basename(resolve(dir));
      tag = base;
      for (let k = 2; tags.has(tag); k++) tag = `${base}${k}`;
      tags.add(tag);
      tag += ':';
    }
    clips.push(...scan.clips.map((c) => ({ ...c, clip: tag + c.clip, group: tag + c.group })));
    unlabelled.push(...scan.unlabelled.map((c) => tag + c));
    problems.push(...scan.problems.map((p) => ({ ...p, clip: tag + p.clip })));
  }
  return { clips, unlabelled, problems };
}

/**
 * Builds an audio dataset from one or more folders of labelled clips (their classes merged). Every
 * window of every clip becomes an item; clips shorter than a window are padded. Classes are sorted
 * (the capstone's label encoding). Each item keeps its manifest's `package`.
 * @throws SoundeeError ERR_DATASET (nothing usable) or the first clip's error with onError 'fail'.
 */
export async function buildAudioDataset(dirs: string | readonly string[], o: BuildOptions): Promise<Dataset> {
  const folders = typeof dirs === 'string' ? [dirs] : [...dirs];
  if (!folders.length) throw new SoundeeError('ERR_DATASET', 'no folder of clips given');
  const dir = folders.join(' + ');
  const { clips, unlabelled, problems } = await scanFolders(folders, o.manifest);
  const c = o.features;
  const winLen = windowSamples(c);
  const px = c.imageSize * c.imageSize * 3;
  const classes = [...new Set(clips.map((x) => x.label))].sort();
  if (classes.length < 2)
    throw new SoundeeError('ERR_DATASET', `${dir}: need at least two classes, found ${classes.length} (${classes.join(', ')})`);
  const splits: Split[] = splitByGroup(clips, { ratios: o.ratios ?? DEFAULT_RATIOS, seed: o.seed ?? 42 });
  const skipped: { clip: string; reason: string }[] = unlabelled.map((clip) => ({
    clip,
    reason: 'no label (not in a class folder, no name-N pattern, not in the manifest)',
  }));
  skipped.push(...problems);
  for (const [k, extraDir] of (o.extraTrain ?? []).entries()) {
    const extra = await scanClips(extraDir);
    const tag = `extra${k + 1}:`;
    for (const clip of extra.unlabelled) skipped.push({ clip: tag + clip, reason: 'no label' });
    for (const p of extra.problems) skipped.push({ clip: tag + p.clip, reason: p.reason });
    const foreign = [...new Set(extra.clips.map((x) => x.label))].filter((l) => !classes.includes(l));
    if (foreign.length)
      throw new SoundeeError(
        'ERR_DATASET',
        `${extraDir}: classes ${foreign.join(', ')} are not in ${dir} (${classes.join(', ')}); extra training clips must use the primary classes`,
      );
    for (const ref of extra.clips) {
      clips.push({ ...ref, clip: tag + ref.clip, group: tag + ref.group });
      splits.push('train');
    }
  }
  const perClip: ({ images: Uint8Array[]; audio: Int16Array[] } | undefined)[] = new Array(clips.length);
  let done = 0;
  await pool(clips, o.concurrency ?? 4, async (ref: ClipRef, i) => {
    try {
      // the one pad rule and feature path of every command (a clip shorter than a window is padded to one)
      const { samples, windows, images } = await renderClip(await loadAudio(ref.path, c.sampleRateHz, c.resampler), c);
      const audio = windows.map((w) => {
        const a = new Int16Array(winLen);
        for (let k = 0; k < winLen; k++) a[k] = Math.max(-32768, Math.min(32767, Math.round(samples[w.startSample + k]! * 32768)));
        return a;
      });
      perClip[i] = { images: [...images], audio };
    } catch (e) {
      if (o.onError === 'fail') throw e;
      skipped.push({ clip: ref.clip, reason: (e as Error).message });
    }
    o.onProgress?.(++done, clips.length);
  });
  const items: DatasetItem[] = [];
  const images: Uint8Array[] = [];
  const audio: Int16Array[] = [];
  clips.forEach((ref, i) => {
    const r = perClip[i];
    if (!r) return;
    r.images.forEach((img, w) => {
      items.push({
        clip: ref.clip,
        label: classes.indexOf(ref.label),
        group: ref.group,
        ...(ref.package ? { package: ref.package } : {}),
        split: splits[i]!,
        window: w,
      });
      images.push(img);
      audio.push(r.audio[w]!);
    });
  });
  if (items.length === 0) throw new SoundeeError('ERR_DATASET', `${dir}: no clip could be read (${skipped.length} skipped)`);
  const imgBlock = new Uint8Array(items.length * px);
  images.forEach((img, k) => {
    imgBlock.set(img, k * px);
  });
  const audioBlock = new Int16Array(items.length * winLen);
  audio.forEach((a, k) => {
    audioBlock.set(a, k * winLen);
  });
  const header: DatasetHeader = {
    format: DATASET_FORMAT,
    version: DATASET_VERSION,
    createdAt: new Date().toISOString(),
    source: o.extraTrain?.length ? [dir, ...o.extraTrain.map((d) => `${d} (train only)`)].join(' + ') : dir,
    kind: 'audio',
    features: c,
    classes,
    imageSize: c.imageSize,
    audio: { sampleRateHz: c.sampleRateHz, samplesPerItem: winLen },
    split: { seed: o.seed ?? 42, ratios: o.ratios ?? ([...DEFAULT_RATIOS] as [number, number, number]) },
    items,
    skipped: skipped.sort((a, b) => a.clip.localeCompare(b.clip)),
  };
  return new Dataset(header, imgBlock, audioBlock);
}

/**
 * Imports a folder of spectrogram images (PNG/JPEG/WebP; class from sub-folder or name-N file name):
 * each is resized to imageSize² with sharp, keeping all three RGB channels (alpha dropped, grey expanded).
 */
export async function importImageDataset(
  dir: string,
  o: Omit<BuildOptions, 'features'> & { imageSize: number; resizeKernel?: FeatureConfig['resizeKernel'] },
): Promise<Dataset> {
  const { clips, unlabelled, problems } = await scanClips(dir, {
    extensions: ['.png', '.jpg', '.jpeg', '.webp'],
    ...(o.manifest ? { manifest: o.manifest } : {}),
  });
  const size = o.imageSize;
  const px = size * size * 3;
  const classes = [...new Set(clips.map((x) => x.label))].sort();
  if (classes.length < 2) throw new SoundeeError('ERR_DATASET', `${dir}: need at least two classes, found ${classes.length}`);
  const splits = splitByGroup(clips, { ratios: o.ratios ?? DEFAULT_RATIOS, seed: o.seed ?? 42 });
  const imgs: (Uint8Array | undefined)[] = new Array(clips.length);
  const skipped: { clip: string; reason: string }[] = [...unlabelled.map((clip) => ({ clip, reason: 'no label' })), ...problems];
  let done = 0;
  await pool(clips, o.concurrency ?? 4, async (ref, i) => {
    try {
      const buf = await sharp(ref.path)
        .removeAlpha()
        .toColourspace('srgb')
        .resize(size, size, { fit: 'fill', kernel: o.resizeKernel ?? 'lanczos3' })
        .raw()
        .toBuffer({ resolveWithObject: true });
      if (buf.info.channels !== 3) throw new Error(`decoded to ${buf.info.channels} channels`);
      imgs[i] = new Uint8Array(buf.data);
    } catch (e) {
      if (o.onError === 'fail') throw new SoundeeError('ERR_DATASET', `${ref.clip}: ${(e as Error).message}`);
      skipped.push({ clip: ref.clip, reason: (e as Error).message });
    }
    o.onProgress?.(++done, clips.length);
  });
  const items: DatasetItem[] = [];
  const kept: Uint8Array[] = [];
  clips.forEach((ref, i) => {
    if (!imgs[i]) return;
    items.push({
      clip: ref.clip,
      label: classes.indexOf(ref.label),
      group: ref.group,
      ...(ref.package ? { package: ref.package } : {}),
      split: splits[i]! as Split,
      window: 0,
    });
    kept.push(imgs[i]!);
  });
  if (items.length === 0) throw new SoundeeError('ERR_DATASET', `${dir}: no image could be read`);
  const block = new Uint8Array(items.length * px);
  kept.forEach((img, k) => {
    block.set(img, k * px);
  });
  return new Dataset(
    {
      format: DATASET_FORMAT,
      version: DATASET_VERSION,
      createdAt: new Date().toISOString(),
      source: dir,
      kind: 'images',
      features: null,
      classes,
      imageSize: size,
      audio: null,
      split: { seed: o.seed ?? 42, ratios: o.ratios ?? ([...DEFAULT_RATIOS] as [number, number, number]) },
      items,
      skipped: skipped.sort((a, b) => a.clip.localeCompare(b.clip)),
    },
    block,
    null,
  );
}

/** The split as CSV, like the capstone's train.csv: one row per item. */
export function splitCsv(ds: Dataset): string {
  const q = (s: string) => (/[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  const rows = ds.header.items.map((it) => [q(it.clip), String(it.window), q(ds.classes[it.label]!), q(it.group), it.split].join(','));
  return `clip,window,label,group,split\n${rows.join('\n')}\n`;
}
