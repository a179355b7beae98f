/**
 * Evaluation of a model on a dataset file's split, or on a folder of labelled clips rendered through
 * the one feature path with the model's own feature config.
 */
import { type FeatureConfig, SoundeeError, diffFeatureConfig, windowSamples } from '../config.ts';
import { loadAudio } from '../audio/wav.ts';
import type { Dataset } from '../data/dataset-file.ts';
import { scanClips } from '../data/scan.ts';
import type { Split } from '../data/split.ts';
import { frameSignal } from '../features/framer.ts';
import { renderWindowImages, toUnitFloat } from '../features/render.ts';
import type { Classifier } from '../model/classifier.ts';
import { type EvaluationReport, evaluatePredictions } from './metrics.ts';

export interface EvaluationRun {
  report: EvaluationReport;
  /** How the inputs were obtained. */
  source: string;
  /** Clips that could not be read (folder evaluation). */
  skipped: { clip: string; reason: string }[];
}

function mapClasses(model: readonly string[], data: readonly string[], where: string): number[] {
  const missing = data.filter((c) => !model.includes(c));
  if (missing.length)
    throw new SoundeeError(
      'ERR_MODEL_MISMATCH',
      `${where} has classes the model does not know: ${missing.join(', ')} (model classes: ${model.join(', ')})`,
    );
  return data.map((c) => model.indexOf(c));
}

async function classifyImages(cls: Classifier, images: readonly Uint8Array[], batch = 128): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let s = 0; s < images.length; s += batch)
    out.push(...cls.classify(images.slice(s, s + batch).map(toUnitFloat)).map((c) => c.probabilities));
  return out;
}

/**
 * Evaluates on a split of a dataset file. Stored images are used when the dataset was rendered with
 * the model's feature config; otherwise the stored audio is re-rendered with the model's config.
 */
export async function evaluateOnDataset(
  cls: Classifier,
  ds: Dataset,
  split: Split | 'all' = 'test',
  onProgress?: (d: number, t: number) => void,
): Promise<EvaluationRun> {
  const idx = split === 'all' ? ds.header.items.map((_, i) => i) : ds.indices(split);
  if (!idx.length) throw new SoundeeError('ERR_DATASET', `the dataset has no ${split} items`);
  const map = mapClasses(cls.classes, ds.classes, 'the dataset');
  const truth = idx.map((i) => map[ds.header.items[i]!.label]!);
  let images: Uint8Array[];
  let source: string;
  const same = ds.header.features && diffFeatureConfig(cls.features, ds.header.features).length === 0;
  if (same || (!ds.header.features && ds.header.imageSize === cls.features.imageSize)) {
    images = idx.map((i) => ds.image(i));
    source = `${split} split, stored images`;
  } else if (
    ds.audio &&
    ds.header.audio?.samplesPerItem === windowSamples(cls.features) &&
    ds.header.audio.sampleRateHz === cls.features.sampleRateHz
  ) {
    images = [];
    for (let s = 0; s < idx.length; s += 64) {
      const part = idx.slice(s, s + 64);
      images.push(
        ...(await renderWindowImages(
          part.map((i) => frameSignal(ds.samples(i), cls.features)[0]!),
          cls.features,
        )),
      );
      onProgress?.(Math.min(idx.length, s + 64), idx.length);
    }
    source = `${split} split, audio re-rendered with the model's features (${diffFeatureConfig(ds.header.features!, cls.features).join('; ')})`;
  } else
    throw new SoundeeError(
      'ERR_MODEL_MISMATCH',
      "the dataset's images were rendered with other feature settings than the model's, and its audio cannot be re-rendered for this model; rebuild the dataset with the model's features",
    );
  const probs = await classifyImages(cls, images);
  return { report: evaluatePredictions(cls.classes, truth, probs, cls.threshold), source, skipped: [] };
}

/**
 * Evaluates on a folder of labelled clips (class sub-folders or name-N files): every window of every
 * clip, rendered with the model's feature config.
 */
export async function evaluateOnFolder(cls: Classifier, dir: string, onProgress?: (d: number, t: number) => void): Promise<EvaluationRun> {
  const { clips, unlabelled } = await scanClips(dir);
  const c: FeatureConfig = cls.features;
  const labels = [...new Set(clips.map((x) => x.label))].sort();
  const map = mapClasses(cls.classes, labels, dir);
  const truth: number[] = [];
  const probs: Float32Array[] = [];
  const skipped = unlabelled.map((clip) => ({ clip, reason: 'no label' }));
  for (const [k, ref] of clips.entries()) {
    try {
      let x = await loadAudio(ref.path, c.sampleRateHz);
      if (x.length < windowSamples(c)) {
        const p = new Float32Array(windowSamples(c));
        p.set(x);
        x = p;
      }
      const inputs = (await renderWindowImages(frameSignal(x, c), c)).map(toUnitFloat);
      for (const r of cls.classify(inputs)) {
        probs.push(r.probabilities);
        truth.push(map[labels.indexOf(ref.label)]!);
      }
    } catch (e) {
      skipped.push({ clip: ref.clip, reason: (e as Error).message });
    }
    onProgress?.(k + 1, clips.length);
  }
  if (!truth.length) throw new SoundeeError('ERR_DATASET', `${dir}: no clip could be evaluated`);
  return {
    report: evaluatePredictions(cls.classes, truth, probs, cls.threshold),
    source: `${dir}: ${clips.length - skipped.length} clips, ${truth.length} windows`,
    skipped,
  };
}

/** Result of the digital-silence shortcut probe. */
export interface SilenceProbe {
  /** Class the shortcut points to (e.g. speech, whose clips are padded with zeros). */
  target: string;
  tailMillis: number;
  /** Items probed (test items not of the target class). */
  n: number;
  /** Share predicted as the target before and after zeroing the tail. */
  before: number;
  afterZeros: number;
  /** …and after replacing the tail with white noise at -60 dBFS instead of zeros. */
  afterQuietNoise: number;
}

/**
 * Probes the "exact zeros mean speech" shortcut: zero the last `tailMillis` of every non-target
 * item of a split and count how often the model then says `target`. A model that learned the sound,
 * not the padding, barely moves.
 */
export async function probeSilenceShortcut(
  cls: Classifier,
  ds: Dataset,
  { split = 'test' as Split, target = 'speech', tailMillis = 250 } = {},
): Promise<SilenceProbe> {
  const t = ds.classes.indexOf(target);
  const mt = cls.classes.indexOf(target);
  if (t < 0 || mt < 0) throw new SoundeeError('ERR_DATASET', `class ${target} is not in both the dataset and the model`);
  const idx = ds.indices(split).filter((i) => ds.header.items[i]!.label !== t);
  const c = cls.features;
  const tail = Math.round((tailMillis / 1000) * c.sampleRateHz);
  let seed = 12345;
  const share = async (edit: (x: Float32Array) => void) => {
    let hits = 0;
    for (let s = 0; s < idx.length; s += 64) {
      const windows = idx.slice(s, s + 64).map((i) => {
        const x = ds.samples(i);
        edit(x);
        return frameSignal(x, c)[0]!;
      });
      const inputs = (await renderWindowImages(windows, c)).map(toUnitFloat);
      for (const r of cls.classify(inputs)) if (r.probabilities.indexOf(Math.max(...r.probabilities)) === mt) hits++;
    }
    return hits / idx.length;
  };
  return {
    target,
    tailMillis,
    n: idx.length,
    before: await share(() => {}),
    afterZeros: await share((x) => x.fill(0, x.length - tail)),
    afterQuietNoise: await share((x) => {
      for (let k = x.length - tail; k < x.length; k++) {
        seed = (seed * 16807) % 2147483647;
        x[k] = (seed / 2147483647 - 0.5) * 2 * 0.001 * Math.sqrt(3);
      }
    }),
  };
}
