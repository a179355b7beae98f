/**
 * Learning one class from a few examples, at the level of embeddings: the sound windows of the
 * examples and augmented copies of them (the training augmentation: shift, gain, noise, mixing, EQ,
 * masks, through the one feature path) are embedded by the trained trunk; the new class's row of the
 * final Dense layer is fitted against negatives (the user's negative clips, the model's bank of other
 * sounds). `soundee learn` and the few-shot benchmark both run this.
 */
import { type FeatureConfig, windowSamples } from '../config.ts';
import { type AugmentOptions, DEFAULT_AUGMENT, renderAugmented } from '../data/augment.ts';
import { Random } from '../util/random.ts';
import type { Embedder } from './embed.ts';
import { type ClipWindows, soundWindows, windowAudio } from './examples.ts';
import { type FittedLogit, fitLogit, imprintLogit, newClassProbability, rowOffsets } from './head.ts';

/** How a class is learned. Defaults in {@link DEFAULT_LEARN} (chosen with bench/fewshot.ts; see README). */
export interface LearnSettings {
  /** 'logistic': the row is fitted against negatives; 'imprint': the scaled mean example embedding (no negatives). */
  method: 'logistic' | 'imprint';
  /**
   * Fit the row on richer features: the head's input plus the average and maximum of every residual
   * stage's output (the model's head is widened once; the original rows get zero weights there).
   */
  extraFeatures: boolean;
  /** Augmented copies of each sound window of the examples (0: the windows as recorded only). */
  augmentations: number;
  /** Augmented copies of each window of the user's negative clips. */
  negativeAugmentations: number;
  /** The augmentation (the training defaults; mixing uses the negative clips when there are any). */
  augment: AugmentOptions;
  /** L2 penalty of the fit (see FitOptions). */
  l2: number;
  /** Weight of all negatives together relative to the positives. */
  negativeWeight: number;
  /** Windows of the user's negative clips used at most (spread over the clips). */
  maxNegativeWindows: number;
  seed: number;
}

export const DEFAULT_LEARN: Readonly<LearnSettings> = Object.freeze({
  method: 'logistic',
  extraFeatures: true,
  augmentations: 16,
  negativeAugmentations: 2,
  augment: DEFAULT_AUGMENT,
  l2: 0.003,
  negativeWeight: 2,
  maxNegativeWindows: 2000,
  seed: 1,
});

/** Embeddings and the LSE of the original logits of a set of windows. */
export interface EmbeddedWindows {
  emb: Float32Array;
  offsets: Float64Array;
  count: number;
}

/** Joins sets of embedded windows. */
export function concatWindows(dims: number, ...sets: EmbeddedWindows[]): EmbeddedWindows {
  const count = sets.reduce((a, s) => a + s.count, 0);
  const emb = new Float32Array(count * dims);
  const offsets = new Float64Array(count);
  let at = 0;
  for (const s of sets) {
    emb.set(s.emb, at * dims);
    offsets.set(s.offsets, at);
    at += s.count;
  }
  return { emb, offsets, count };
}

/** Embeds model-input images and computes their offsets. */
export function embedImages(embedder: Embedder, images: readonly Uint8Array[]): EmbeddedWindows {
  const emb = embedder.embed(images);
  return { emb, offsets: rowOffsets(embedder.logits(emb), embedder.head.classes), count: images.length };
}

/**
 * The positive windows of a set of examples: each example's sound windows as recorded, plus
 * `augmentations` augmented copies of each.
 * @param background audio to mix underneath while augmenting (the negative clips); none: noise only.
 * @param onProgress hears the augmented copies rendered so far and in all.
 */
export async function examplePositives(
  embedder: Embedder,
  clips: readonly ClipWindows[],
  c: FeatureConfig,
  s: LearnSettings,
  background: readonly Float32Array[] = [],
  onProgress?: (done: number, total: number) => void,
): Promise<{ windows: EmbeddedWindows; recorded: EmbeddedWindows; perClip: number[] }> {
  const picks = clips.map((clip) => soundWindows(clip.windows));
  const perClip = picks.map((p) => p.length);
  const recordedImages = clips.flatMap((clip, k) => picks[k]!.map((i) => clip.images[i]!));
  const recorded = embedImages(embedder, recordedImages);
  if (s.augmentations === 0) return { windows: recorded, recorded, perClip };
  const rng = new Random(s.seed);
  const audio = clips.flatMap((clip, k) => picks[k]!.map((i) => windowAudio(clip, clip.windows[i]!, c)));
  const copies = audio.flatMap((x) => Array.from({ length: s.augmentations }, () => x));
  const augment = background.length ? s.augment : { ...s.augment, mixProbability: 0 };
  const pickBackground = () => background[rng.int(background.length)]!;
  const images: Uint8Array[] = [];
  for (let at = 0; at < copies.length; at += 256) {
    images.push(...(await renderAugmented(copies.slice(at, at + 256), c, rng, augment, background.length ? { any: pickBackground } : {})));
    onProgress?.(images.length, copies.length);
  }
  return { windows: concatWindows(embedder.dims, recorded, embedImages(embedder, images)), recorded, perClip };
}

/** Some rows of a set of embedded windows. */
export function pickWindows(dims: number, x: EmbeddedWindows, rows: readonly number[]): EmbeddedWindows {
  const emb = new Float32Array(rows.length * dims);
  const offsets = new Float64Array(rows.length);
  rows.forEach((r, i) => {
    emb.set(x.emb.subarray(r * dims, (r + 1) * dims), i * dims);
    offsets[i] = x.offsets[r]!;
  });
  return { emb, offsets, count: rows.length };
}

/** `max` indices spread evenly over 0…n−1 (all of them when n ≤ max), in order. */
export function spreadIndices(n: number, max: number): number[] {
  return n <= max ? Array.from({ length: n }, (_, i) => i) : Array.from({ length: max }, (_, j) => Math.floor((j * n) / max));
}

/** Windows on which the new class is on top: its probability in the extended classifier above 0.5 (more than all the others together). */
export function countOnTop(embedder: Embedder, fit: Pick<FittedLogit, 'w' | 'b'>, x: EmbeddedWindows): number {
  return probabilityOf(embedder, fit, x).filter((v) => v > 0.5).length;
}

/** Takes the leave-one-out check judges at most (spread over the examples). */
export const LEAVE_ONE_OUT_TAKES = 10;

/** How a learned class does on takes it did not learn from. */
export interface HeldOutTakes {
  /** Takes on whose sound windows the class is on top at least half the time, when learned without them. */
  recognised: number;
  /** Takes checked (every example with a sound window, at most LEAVE_ONE_OUT_TAKES of them, spread). */
  of: number;
  /** Share of the checked takes' sound windows on which it is on top, each take learned without. */
  windowShare: number;
}

/**
 * Leave-one-out over the examples: for each take, the class is fitted again on the other takes (their
 * windows as recorded and their augmented copies, in `examplePositives`'s order) against the same
 * negatives, and judged on the left-out take's sound windows (on top: probability above 0.5, the
 * event threshold of a learned class). The check on the examples themselves only says the fit worked;
 * this says how it does on a take it never heard — what the user's next doorbell ring will be.
 * @param positives `examplePositives`'s windows; `perClip` its sound windows per example.
 */
export function leaveOneOut(
  embedder: Embedder,
  positives: EmbeddedWindows,
  perClip: readonly number[],
  augmentations: number,
  negatives: EmbeddedWindows,
  s: LearnSettings,
  maxTakes = LEAVE_ONE_OUT_TAKES,
): HeldOutTakes {
  const total = perClip.reduce((a, n) => a + n, 0);
  const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
  // at most maxTakes refits (each about a second on these cores), spread over the takes
  const checked = new Set(spreadIndices(perClip.length, maxTakes));
  let recognised = 0;
  let of = 0;
  let on = 0;
  let windows = 0;
  let start = 0;
  for (const [i, n] of perClip.entries()) {
    if (n > 0 && perClip.length > 1 && checked.has(i)) {
      const own = new Set([...range(start, n), ...range(total + augmentations * start, augmentations * n)]);
      const rest = range(0, positives.count).filter((r) => !own.has(r));
      const fit = fitClass(embedder, pickWindows(embedder.dims, positives, rest), negatives, s);
      const top = countOnTop(embedder, fit, pickWindows(embedder.dims, positives, range(start, n)));
      on += top;
      windows += n;
      of++;
      if (2 * top >= n) recognised++;
    }
    start += n;
  }
  return { recognised, of, windowShare: windows ? on / windows : 0 };
}

/**
 * The negative windows of the user's negative clips: every window loud enough for the level gate
 * (at most `maxNegativeWindows`, spread evenly), plus augmented copies; and their audio, for mixing.
 */
export async function clipNegatives(
  embedder: Embedder,
  clips: readonly ClipWindows[],
  c: FeatureConfig,
  s: LearnSettings,
): Promise<{ windows: EmbeddedWindows; audio: Float32Array[] }> {
  const all = clips.flatMap((clip) => soundWindows(clip.windows, { rangeDb: Number.POSITIVE_INFINITY }).map((i) => ({ clip, i })));
  const keep =
    all.length <= s.maxNegativeWindows
      ? all
      : Array.from({ length: s.maxNegativeWindows }, (_, k) => all[Math.floor((k * all.length) / s.maxNegativeWindows)]!);
  const audio = keep.map(({ clip, i }) => windowAudio(clip, clip.windows[i]!, c));
  const recorded = embedImages(
    embedder,
    keep.map(({ clip, i }) => clip.images[i]!),
  );
  if (!s.negativeAugmentations || !audio.length) return { windows: recorded, audio };
  const rng = new Random(s.seed + 1);
  const copies = audio.flatMap((x) => Array.from({ length: s.negativeAugmentations }, () => x));
  const images: Uint8Array[] = [];
  for (let at = 0; at < copies.length; at += 256)
    images.push(...(await renderAugmented(copies.slice(at, at + 256), c, rng, { ...s.augment, mixProbability: 0 })));
  return { windows: concatWindows(embedder.dims, recorded, embedImages(embedder, images)), audio };
}

/**
 * Fits the new class's row. Returns it in the network's own scale (the classifier divides every logit
 * by the model's temperature; the fit happens after that division, so the row is multiplied back).
 */
export function fitClass(embedder: Embedder, positives: EmbeddedWindows, negatives: EmbeddedWindows, s: LearnSettings): FittedLogit {
  const { kernel, bias, classes } = embedder.head;
  const dims = embedder.dims;
  const t = embedder.temperature;
  if (s.method === 'imprint') {
    // imprinting reads the head's own features; the extra ones get zero weight
    const h = embedder.head.dims;
    const own = Float32Array.from({ length: positives.count * h }, (_, i) => positives.emb[Math.floor(i / h) * dims + (i % h)]!);
    const fit = imprintLogit(own, h, kernel, bias, classes);
    const w = new Float32Array(dims);
    w.set(fit.w);
    return { ...fit, w };
  }
  const fit = fitLogit(positives.emb, positives.offsets, negatives.emb, negatives.offsets, dims, {
    l2: s.l2,
    negativeWeight: negatives.count ? s.negativeWeight : 0,
  });
  return { ...fit, w: fit.w.map((v) => v * t), b: fit.b * t };
}

/** The new class's probability (as the extended classifier reports it) for embedded windows. */
export function probabilityOf(embedder: Embedder, fit: Pick<FittedLogit, 'w' | 'b'>, x: EmbeddedWindows): Float32Array {
  const t = embedder.temperature;
  return newClassProbability({ w: fit.w.map((v) => v / t), b: fit.b / t }, x.emb, x.offsets, embedder.dims);
}

/**
 * Windows of noise (white, pink, brown, at levels from the noise floor to loud), the negatives a model
 * always has: room and microphone noise must not become the new class.
 */
export async function noiseNegatives(embedder: Embedder, c: FeatureConfig, count = 48, seed = 5): Promise<EmbeddedWindows> {
  const rng = new Random(seed);
  const n = windowSamples(c);
  const quiet = Array.from({ length: count }, (_, i) =>
    Float32Array.from({ length: n }, () => 10 ** -(1 + (3 * i) / count) * rng.normal()),
  );
  const noisy = { ...DEFAULT_AUGMENT, mixProbability: 0, noiseProbability: 1, noiseSnrDb: [-40, -20] as [number, number] };
  return embedImages(embedder, await renderAugmented(quiet, c, rng, noisy));
}
