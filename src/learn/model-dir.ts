/**
 * `soundee learn` on model directories: add a class learned from a few examples, list the classes
 * (which are custom, from how many examples and negatives, when), remove a custom class, (re)build the
 * bank of negatives. Every output is a normal Soundee model directory: a tfjs layers model whose final
 * Dense layer has one output per class (the original rows as they were), and a metadata.json that
 * describes it; the source directory is never changed.
 */
import { copyFile, mkdir, readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { type FeatureConfig, SoundeeError, UNKNOWN_LABEL } from '../config.ts';
import {
  type CustomClassRecord,
  type LoadedModel,
  type ModelMetadata,
  heldOutRecallOf,
  loadModel,
  readMetadata,
  saveModel,
} from '../model/io.ts';
import {
  BANK_BIN,
  BANK_FORMAT,
  BANK_JSON,
  BANK_VERSION,
  type Bank,
  type BankHeader,
  bankImages,
  quantizeBank,
  readBank,
  writeBank,
} from './bank.ts';
import { Embedder, trunkFingerprint } from './embed.ts';
import { type ClipWindows, expandInputs, loadClip, soundWindows } from './examples.ts';
import { withClass, withExtraFeatures, withoutClass } from './extend.ts';
import { rowOffsets } from './head.ts';
import {
  DEFAULT_LEARN,
  type EmbeddedWindows,
  type LearnSettings,
  clipNegatives,
  concatWindows,
  countOnTop,
  embedImages,
  examplePositives,
  fitClass,
  leaveOneOut,
  noiseNegatives,
} from './learn.ts';

/** Defaults of `soundee learn` besides the fit (DEFAULT_LEARN). */
export const LEARN_DEFAULTS = Object.freeze({
  /** Fewest example clips accepted. */
  minExamples: 3,
  /**
   * Event settings written for a learned class: it must beat the original classes clearly and hold for
   * 1.5 s of windows (a doorbell or a bark is shorter than the default 2000 ms). On the few-shot
   * benchmark 1500 ms kept the recall of 1000 ms at every k and cut false alarms by a fifth to a third;
   * 2000 ms lost recall (README, "Teach it your sound").
   */
  eventThreshold: 0.5,
  minDurationMs: 1500,
  /** Windows a rebuilt bank keeps from each source. */
  bankPerSource: 1000,
});

/** Labels: letters, digits, space, `_`, `-`, `.`; at most 64 characters. */
const LABEL_RE = /^[\p{L}\p{N}][\p{L}\p{N} _.-]{0,63}$/u;

function learnError(code: string, message: string): never {
  throw new SoundeeError(code, message);
}

/** What to learn. */
export interface LearnRequest {
  /** Source model directory. */
  model: string;
  /** Output model directory (must not be the source; must be empty or absent unless `overwrite`). */
  out: string;
  label: string;
  /** Example WAV files or folders of them. */
  examples: readonly string[];
  /** Clips of what must not trigger the class. */
  negatives?: readonly string[];
  settings?: Partial<LearnSettings>;
  minExamples?: number;
  /** Refuse the model unless its features equal these (the --features guard of every command). */
  expectFeatures?: FeatureConfig;
  overwrite?: boolean;
  /** Hears what is being done (for people) and the share of the work done, 0..1. */
  onProgress?: (stage: string, fraction: number) => void;
}

/** What was learned. */
export interface LearnReport {
  label: string;
  classes: string[];
  record: CustomClassRecord;
  /** Example clips shorter than one window (padded by the pad rule). */
  padded: string[];
  /** Bank windows used, or why none were. */
  bank: number | 'none' | 'stale';
  seconds: number;
}

async function checkOut(model: string, out: string, overwrite: boolean | undefined): Promise<void> {
  if (resolve(model) === resolve(out))
    learnError('ERR_LEARN_OUT', `--out ${out} is the source model directory; write the new model to another directory`);
  const entries = await readdir(out).catch(() => undefined);
  if (entries?.length && !overwrite)
    learnError('ERR_LEARN_OUT', `--out ${out} exists and is not empty; choose another directory or pass --force to replace it`);
}

async function loadClips(files: readonly string[], c: FeatureConfig, what: string): Promise<ClipWindows[]> {
  const clips: ClipWindows[] = [];
  for (const f of files) {
    let clip: ClipWindows;
    try {
      clip = await loadClip(f, c);
    } catch (e) {
      learnError((e as SoundeeError).code ?? 'ERR_LEARN_INPUT', `${what} ${f}: ${(e as Error).message}`);
    }
    if (soundWindows(clip.windows).length === 0)
      learnError(
        'ERR_LEARN_SILENT',
        `${what} ${f} is silent (every window under the level gate, -60 dBFS): record it again, closer or louder`,
      );
    clips.push(clip);
  }
  return clips;
}

/** The bank a model directory carries, if it fits the model's trunk. */
async function usableBank(dir: string, model: tf.LayersModel, dims: number): Promise<{ bank?: Bank; state: 'ok' | 'none' | 'stale' }> {
  const bank = await readBank(dir);
  if (!bank) return { state: 'none' };
  if (bank.header.trunk !== trunkFingerprint(model) || bank.header.dims !== dims) return { state: 'stale' };
  return { bank, state: 'ok' };
}

/** Copies a model directory's bank files (the bank stays valid: the trunk does not change). */
async function copyBank(bank: Bank, out: string): Promise<void> {
  for (const f of [BANK_JSON, BANK_BIN]) await copyFile(join(bank.dir, f), join(out, f));
}

/** Copies the files of a model directory that describe its training (curves, reports) into `out`. */
async function copyExtras(from: string, out: string, skip: readonly string[]): Promise<void> {
  for (const name of await readdir(from)) {
    if (skip.includes(name) || name.endsWith('.tmp')) continue;
    if ((await stat(join(from, name))).isFile()) await copyFile(join(from, name), join(out, name));
  }
}

const MODEL_FILES = ['model.json', 'weights.bin', 'metadata.json', BANK_JSON, BANK_BIN];

/** Saves `model` as a sibling of `source` with new metadata, the source's other files and (if given) a bank. */
async function saveDerived(
  source: LoadedModel,
  model: tf.LayersModel,
  out: string,
  patch: Partial<ModelMetadata>,
  bank: Bank | undefined,
): Promise<ModelMetadata> {
  await mkdir(out, { recursive: true });
  const { format: _f, formatVersion: _v, createdAt: _c, weights, ...meta } = source.metadata;
  // float16 weights stay float16 (a float16 value re-encodes to itself: the kept rows are bit for bit the same);
  // uint8 ones are stored as float32, because re-quantising the grown head would move every row
  const quantization = weights?.dtype === 'float16' ? 'float16' : 'none';
  await copyExtras(source.dir, out, MODEL_FILES);
  const written = await saveModel(model, out, { ...meta, ...patch }, { quantization });
  if (bank) await copyBank(bank, out);
  return written;
}

/**
 * Learns a class from example clips and writes the extended model to `r.out`.
 * @throws SoundeeError ERR_LEARN_LABEL (bad or existing label), ERR_LEARN_TOO_FEW, ERR_LEARN_INPUT,
 *   ERR_LEARN_SILENT, ERR_LEARN_OUT, ERR_LEARN_MODEL (no softmax Dense head), ERR_MODEL_MISMATCH
 *   (features differ from `expectFeatures`), and the model loader's errors.
 */
export async function learnClass(r: LearnRequest): Promise<LearnReport> {
  const started = performance.now();
  const s: LearnSettings = { ...DEFAULT_LEARN, ...r.settings };
  const say = r.onProgress ?? (() => {});
  const label = r.label.trim();
  if (!LABEL_RE.test(label) || label === UNKNOWN_LABEL)
    learnError('ERR_LEARN_LABEL', `label "${r.label}" is not usable: use 1–64 letters, digits, spaces, _ . - (and not "${UNKNOWN_LABEL}")`);
  const meta = await readMetadata(r.model);
  if (meta.classes.includes(label))
    learnError(
      'ERR_LEARN_LABEL',
      `the model already has a class "${label}"; pick another label or remove it first (soundee learn --remove)`,
    );
  await checkOut(r.model, r.out, r.overwrite);
  const exampleFiles = await expandInputs(r.examples);
  const min = r.minExamples ?? LEARN_DEFAULTS.minExamples;
  if (exampleFiles.length < min)
    learnError(
      'ERR_LEARN_TOO_FEW',
      `${exampleFiles.length} example clip${exampleFiles.length === 1 ? '' : 's'}; record at least ${min} (3–20 work best)`,
    );
  const negativeFiles = r.negatives?.length ? await expandInputs(r.negatives) : [];
  const loaded = await loadModel(r.model, r.expectFeatures ? { expectFeatures: r.expectFeatures } : {});
  const embedder = new Embedder(loaded, { extraFeatures: s.extraFeatures });
  try {
    const c = loaded.metadata.features;
    say('reading the examples', 0.02);
    const examples = await loadClips(exampleFiles, c, 'example');
    const negClips = await loadClips(negativeFiles, c, 'negative');
    const { bank, state } = await usableBank(r.model, loaded.model, embedder.dims);
    const embedding = 'embedding the examples and augmented copies';
    say(embedding, 0.08);
    const user = negClips.length ? await clipNegatives(embedder, negClips, c, s) : undefined;
    const {
      windows: positives,
      recorded,
      perClip,
    } = await examplePositives(embedder, examples, c, s, user?.audio ?? [], (done, total) => say(embedding, 0.1 + (0.45 * done) / total));
    const bankWindows: EmbeddedWindows | undefined = bank && {
      emb: bank.emb,
      offsets: rowOffsets(embedder.logits(bank.emb), embedder.head.classes),
      count: bank.header.count,
    };
    const noise = await noiseNegatives(embedder, c);
    const negatives = concatWindows(embedder.dims, noise, ...[user?.windows, bankWindows].filter((x): x is EmbeddedWindows => !!x));
    say('fitting the new class', 0.75);
    const fit = fitClass(embedder, positives, negatives, s);
    const onTop = (x: EmbeddedWindows) => {
      if (!x.count) return 0;
      return countOnTop(embedder, fit, x) / x.count;
    };
    say('checking it on each take, learned without it', 0.82);
    const heldOutTakes = leaveOneOut(embedder, positives, perClip, s.augmentations, negatives, s);
    const record: CustomClassRecord = {
      label,
      addedAt: new Date().toISOString(),
      examples: { files: exampleFiles.map((f) => basename(f)), windows: recorded.count },
      negatives: { files: negativeFiles.map((f) => basename(f)), windows: user?.windows.count ?? 0, bank: bankWindows?.count ?? 0 },
      fit: { method: s.method, augmentations: s.augmentations, l2: s.l2, negativeWeight: s.negativeWeight },
      events: { threshold: LEARN_DEFAULTS.eventThreshold, minDurationMs: LEARN_DEFAULTS.minDurationMs },
      check: { examplesOnTop: onTop(recorded), bankOnTop: bankWindows ? onTop(bankWindows) : 0, heldOutTakes },
    };
    say('saving', 0.94);
    const wide = embedder.dims > embedder.head.dims ? await withExtraFeatures(loaded.model) : loaded.model;
    let model: tf.LayersModel;
    try {
      model = await withClass(wide, fit.w, fit.b);
    } finally {
      if (wide !== loaded.model) wide.dispose();
    }
    try {
      await saveDerived(
        loaded,
        model,
        r.out,
        { classes: [...loaded.metadata.classes, label], customClasses: [...(loaded.metadata.customClasses ?? []), record] },
        bank,
      );
    } finally {
      model.dispose();
    }
    return {
      label,
      classes: [...loaded.metadata.classes, label],
      record,
      padded: examples.filter((x) => x.padded).map((x) => basename(x.file)),
      bank: bankWindows ? bankWindows.count : state === 'ok' ? 0 : state,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    embedder.dispose();
    loaded.model.dispose();
  }
}

/** A model's classes, which of them are custom, and its bank. */
export interface ClassListing {
  name: string;
  /** Each class; `heldOutRecall` for the classes the model's cross-validation judged (how far to trust them). */
  classes: { label: string; custom?: CustomClassRecord; heldOutRecall?: number }[];
  bank?: BankHeader;
}

/** Lists a model directory's classes. */
export async function listClasses(dir: string): Promise<ClassListing> {
  const meta = await readMetadata(dir);
  const custom = new Map((meta.customClasses ?? []).map((c) => [c.label, c]));
  const bank = await readBank(dir);
  const recall = heldOutRecallOf(meta) ?? {};
  return {
    name: meta.name,
    classes: meta.classes.map((label) => ({
      label,
      ...(custom.has(label) ? { custom: custom.get(label)! } : {}),
      ...(recall[label] === undefined ? {} : { heldOutRecall: recall[label] }),
    })),
    ...(bank ? { bank: bank.header } : {}),
  };
}

/**
 * Writes a copy of a model without one of its custom classes.
 * @throws SoundeeError ERR_LEARN_LABEL when the label is not a class, or not a custom one.
 */
export async function removeClass(model: string, out: string, label: string, { overwrite = false } = {}): Promise<string[]> {
  const meta = await readMetadata(model);
  const index = meta.classes.indexOf(label);
  if (index < 0) learnError('ERR_LEARN_LABEL', `the model has no class "${label}" (classes: ${meta.classes.join(', ')})`);
  if (!meta.customClasses?.some((c) => c.label === label))
    learnError(
      'ERR_LEARN_LABEL',
      `"${label}" is one of the classes the model was trained with, not a learned one; only learned classes can be removed (to silence it, use --background ${label})`,
    );
  await checkOut(model, out, overwrite);
  const loaded = await loadModel(model);
  try {
    const smaller = await withoutClass(loaded.model, index);
    const bank = await readBank(model);
    try {
      const classes = meta.classes.filter((c) => c !== label);
      await saveDerived(loaded, smaller, out, { classes, customClasses: meta.customClasses.filter((c) => c.label !== label) }, bank);
      return classes;
    } finally {
      smaller.dispose();
    }
  } finally {
    loaded.model.dispose();
  }
}

/**
 * Computes a bank of negatives with the model's trunk from folders of WAV files or dataset files
 * (their train split), and writes the model with it to `out` (or into `model` itself when `out` is the
 * same directory: the network and metadata are left as they are).
 */
export async function buildBank(
  model: string,
  out: string,
  inputs: readonly string[],
  {
    perSource = LEARN_DEFAULTS.bankPerSource,
    overwrite = false,
    onProgress,
  }: { perSource?: number; overwrite?: boolean; onProgress?: (done: number, total: number) => void } = {},
): Promise<BankHeader> {
  if (!inputs.length) learnError('ERR_LEARN_INPUT', 'name at least one folder of WAV files or dataset file for the bank');
  const inPlace = resolve(model) === resolve(out);
  if (!inPlace) await checkOut(model, out, overwrite);
  const loaded = await loadModel(model);
  const embedder = new Embedder(loaded, { extraFeatures: DEFAULT_LEARN.extraFeatures });
  try {
    const { images, sources } = await bankImages(inputs, loaded.metadata.features, { perSource, ...(onProgress ? { onProgress } : {}) });
    if (!images.length) learnError('ERR_LEARN_INPUT', 'the bank sources hold no window loud enough for the level gate');
    const emb = embedImages(embedder, images).emb;
    const { data, min, step } = quantizeBank(emb, embedder.dims);
    const header: BankHeader = {
      format: BANK_FORMAT,
      version: BANK_VERSION,
      trunk: trunkFingerprint(loaded.model),
      dims: embedder.dims,
      count: images.length,
      dtype: 'uint8',
      min,
      step,
      sources,
      createdAt: new Date().toISOString(),
    };
    if (!inPlace) await saveDerived(loaded, loaded.model, out, {}, undefined);
    await writeBank(out, header, data);
    return header;
  } finally {
    embedder.dispose();
    loaded.model.dispose();
  }
}
