/**
 * Evaluation of a model on a dataset file's split, or on a folder of labelled clips rendered through
 * the one feature path with the model's own feature config. The level gate applies as in every other
 * command: a window quieter than `silenceDb` is "nothing heard" — not scored, and counted as gated.
 */
import { SoundeeError, diffFeatureConfig, windowSamples } from '../config.ts';
import type { Dataset } from '../data/dataset-file.ts';
import { scanClips } from '../data/scan.ts';
import type { Split } from '../data/split.ts';
import { DEFAULT_EVENT_OPTIONS, isQuiet } from '../events/tracker.ts';
import { renderFile } from '../features/clip.ts';
import { type WindowFrames, frameSignal, levels } from '../features/framer.ts';
import { renderWindowImages } from '../features/render.ts';
import type { ImageClassifier } from '../model/classifier.ts';
import { type EvaluationReport, evaluatePredictions } from './metrics.ts';

export interface EvaluationRun {
  report: EvaluationReport;
  /** How the inputs were obtained. */
  source: string;
  /** Clips that could not be read (folder evaluation). */
  skipped: { clip: string; reason: string }[];
  /**
   * Windows under the level gate (quieter than `silenceDb`): nothing heard, so not scored; and clips
   * all of whose windows were (a clip of digital silence).
   */
  gated: { windows: number; clips: number; silenceDb: number };
}

/** Options of the evaluations. */
export interface EvaluateOptions {
  /** Called as items are rendered (done, total). */
  onProgress?: (done: number, total: number) => void;
  /** The level gate: windows under this many dBFS are not scored. Default `DEFAULT_EVENT_OPTIONS.silenceDb` (-60). */
  silenceDb?: number;
  /** Sees every window of a folder evaluation: its clip, image and probabilities (and whether it was gated). */
  onWindow?: (w: { clip: string; window: WindowFrames; image: Uint8Array; probabilities: Float32Array; gated: boolean }) => void;
}

const GATE_DEFAULT = DEFAULT_EVENT_OPTIONS.silenceDb;

function mapClasses(model: readonly string[], data: readonly string[], where: string): number[] {
  const missing = data.filter((c) => !model.includes(c));
  if (missing.length)
    throw new SoundeeError(
      'ERR_MODEL_MISMATCH',
      `${where} has classes the model does not know: ${missing.join(', ')} (model classes: ${model.join(', ')})`,
    );
  return data.map((c) => model.indexOf(c));
}

async function classifyImages(cls: ImageClassifier, images: readonly Uint8Array[], batch = 128): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let s = 0; s < images.length; s += batch) out.push(...cls.classify(images.slice(s, s + batch)).map((c) => c.probabilities));
  return out;
}

/** The images of a dataset split: stored, or re-rendered from the stored audio with the model's features. */
async function splitImages(
  cls: ImageClassifier,
  ds: Dataset,
  idx: readonly number[],
  split: string,
  onProgress?: (d: number, t: number) => void,
): Promise<{ images: Uint8Array[]; source: string }> {
  const same = ds.header.features && diffFeatureConfig(cls.features, ds.header.features).length === 0;
  if (same || (!ds.header.features && ds.header.imageSize === cls.features.imageSize))
    return { images: idx.map((i) => ds.image(i)), source: `${split} split, stored images` };
  if (
    ds.audio &&
    ds.header.audio?.samplesPerItem === windowSamples(cls.features) &&
    ds.header.audio.sampleRateHz === cls.features.sampleRateHz
  ) {
    const images: Uint8Array[] = [];
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
    return {
      images,
      source: `${split} split, audio re-rendered with the model's features (${diffFeatureConfig(ds.header.features!, cls.features).join('; ')})`,
    };
  }
  throw new SoundeeError(
    'ERR_MODEL_MISMATCH',
    "the dataset's images were rendered with other feature settings than the model's, and its audio cannot be re-rendered for this model; rebuild the dataset with the model's features",
  );
}

/**
 * Evaluates on a split of a dataset file. Stored images are used when the dataset was rendered with
 * the model's feature config; otherwise the stored audio is re-rendered with the model's config.
 * Items whose stored audio is under the level gate are not scored (datasets of imported images have
 * no audio: nothing is gated).
 */
export async function evaluateOnDataset(
  cls: ImageClassifier,
  ds: Dataset,
  split: Split | 'all' = 'test',
  { onProgress, silenceDb = GATE_DEFAULT }: EvaluateOptions = {},
): Promise<EvaluationRun> {
  const all = split === 'all' ? ds.header.items.map((_, i) => i) : ds.indices(split);
  if (!all.length) throw new SoundeeError('ERR_DATASET', `the dataset has no ${split} items`);
  const map = mapClasses(cls.classes, ds.classes, 'the dataset');
  const quiet = new Set(ds.audio ? all.filter((i) => isQuiet(levels(ds.samples(i)), silenceDb)) : []);
  const idx = all.filter((i) => !quiet.has(i));
  const clipsOf = (items: readonly number[]) => new Set(items.map((i) => ds.header.items[i]!.clip));
  const loudClips = clipsOf(idx);
  const gatedClips = [...clipsOf([...quiet])].filter((c) => !loudClips.has(c)).length;
  if (!idx.length)
    throw new SoundeeError('ERR_DATASET', `every ${split} item is quieter than ${silenceDb} dBFS (the level gate): nothing to score`);
  const truth = idx.map((i) => map[ds.header.items[i]!.label]!);
  const { images, source } = await splitImages(cls, ds, idx, split, onProgress);
  const probs = await classifyImages(cls, images);
  return {
    report: evaluatePredictions(cls.classes, truth, probs, cls.threshold),
    source,
    skipped: [],
    gated: { windows: quiet.size, clips: gatedClips, silenceDb },
  };
}

/**
 * Evaluates on a folder of labelled clips (class sub-folders or name-N files): every window of every
 * clip, each file streamed through the feature path with the model's config (`renderFile`: the pad
 * rule, the resampling rule, memory flat however long the file). Windows under the level gate are
 * not scored.
 */
export async function evaluateOnFolder(
  cls: ImageClassifier,
  dir: string,
  { onProgress, silenceDb = GATE_DEFAULT, onWindow }: EvaluateOptions = {},
): Promise<EvaluationRun> {
  const { clips, unlabelled, problems } = await scanClips(dir);
  const labels = [...new Set(clips.map((x) => x.label))].sort();
  const map = mapClasses(cls.classes, labels, dir);
  const truth: number[] = [];
  const probs: Float32Array[] = [];
  const skipped = [...unlabelled.map((clip) => ({ clip, reason: 'no label' })), ...problems];
  const gated = { windows: 0, clips: 0, silenceDb };
  for (const [k, ref] of clips.entries()) {
    try {
      let loud = 0;
      for await (const { windows, images } of renderFile(ref.path, cls.features)) {
        const results = cls.classify(images);
        windows.forEach((window, i) => {
          const quiet = isQuiet(window, silenceDb);
          onWindow?.({ clip: ref.clip, window, image: images[i]!, probabilities: results[i]!.probabilities, gated: quiet });
          if (quiet) {
            gated.windows++;
            return;
          }
          loud++;
          probs.push(results[i]!.probabilities);
          truth.push(map[labels.indexOf(ref.label)]!);
        });
      }
      if (loud === 0) gated.clips++;
    } catch (e) {
      skipped.push({ clip: ref.clip, reason: (e as Error).message });
    }
    onProgress?.(k + 1, clips.length);
  }
  if (!truth.length)
    throw new SoundeeError(
      'ERR_DATASET',
      gated.windows
        ? `${dir}: every window is quieter than ${silenceDb} dBFS (the level gate): nothing to score`
        : `${dir}: no clip could be evaluated`,
    );
  return {
    report: evaluatePredictions(cls.classes, truth, probs, cls.threshold),
    source: `${dir}: ${clips.length - skipped.length} clips, ${truth.length + gated.windows} windows`,
    skipped,
    gated,
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
  cls: ImageClassifier,
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
      for (const r of cls.classify(await renderWindowImages(windows, c)))
        if (r.probabilities.indexOf(Math.max(...r.probabilities)) === mt) hits++;
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
