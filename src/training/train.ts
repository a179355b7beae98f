/**
 * Training: the capstone's loop done properly. Adam, categorical cross-entropy, mini-batches; per
 * epoch an augmented copy of the training audio rendered through the one feature path; validation
 * accuracy after every epoch; the best epoch's weights kept; early stopping; stop on request (Ctrl-C)
 * with the best weights so far.
 */
import * as tf from '@tensorflow/tfjs';
import { SoundeeError } from '../config.ts';
import { type AugmentOptions, type MixSources, renderAugmented } from '../data/augment.ts';
import type { Dataset } from '../data/dataset-file.ts';
import { availableParallelism } from 'node:os';
import { Random } from '../util/random.ts';
import { type Architecture, buildModel } from '../model/architectures.ts';
import { toModelInput } from '../model/classifier.ts';
import { DataParallelTrainer } from '@soundee/tfjs-wasm-training';

/** How training items are drawn (see TrainOptions.sampling). */
export const SAMPLINGS = ['balanced', 'groups', 'packages', 'natural'] as const;
export type Sampling = (typeof SAMPLINGS)[number];

export interface TrainOptions {
  arch: Architecture;
  /** resnet: classifier head (see ArchitectureOptions.head). */
  head?: 'freq' | 'gap';
  /** resnet: channels of the three stages (see ArchitectureOptions.widths). Default [16, 32, 64]. */
  widths?: readonly [number, number, number];
  /** Most epochs to run. */
  epochs: number;
  batchSize: number;
  /** Adam learning rate (peak, with the cosine schedule). */
  lr: number;
  seed: number;
  /** Stop after this many epochs without a better validation accuracy (0: never stop early). */
  patience: number;
  /** Augmentation of the training audio, or null to train on the stored images. */
  augment: AugmentOptions | null;
  /**
   * 'balanced': every class equally likely; 'groups': every class equally likely and, within a class,
   * every group (recording) equally likely, so one long recording cannot define its class;
   * 'packages': every class, then every package (recording source) within it, then every group within
   * that equally likely, so one game's sound designer cannot define a class; 'natural': the dataset's
   * proportions.
   */
  sampling: Sampling;
  /** Label smoothing ε (targets (1-ε)·onehot + ε/K); 0 for plain one-hot. */
  labelSmoothing: number;
  /** 'cosine' decays the learning rate to 5 % over the epochs; 'constant' keeps it. */
  lrSchedule: 'cosine' | 'constant';
  /** Items per epoch (default: the number of training items). */
  itemsPerEpoch?: number;
  /** Items to train on (default: the dataset's train split). Cross-validation passes its folds here. */
  trainItems?: readonly number[];
  /**
   * Items to select the best epoch on (default: the valid split). `null`: no validation — train all
   * `epochs` and keep the last epoch's weights (the averaged ones with `ema`), as cross-validation
   * and a final model trained on all data do.
   */
  validItems?: readonly number[] | null;
  /**
   * Classes of "none of these" sounds (e.g. `background`): their clips are what augmentation mixes
   * under the others (`backgroundMixProbability`). Default: none.
   */
  backgroundClasses?: readonly string[];
  /**
   * With 'balanced', 'groups' or 'packages' sampling, a background class is drawn this many times as
   * often as a target class (it stands for every sound that is none of them). Default 1.
   */
  backgroundWeight?: number;
  /** Mixup α: each batch is blended with a shuffled copy of itself, λ ~ Beta(α, α), targets blended alike; 0 = off. */
  mixup?: number;
  /**
   * Freq-MixStyle: the probability that a batch's images get each other's frequency response. Every
   * image's rows (frequency bands) are normalised by their own mean and deviation over time and
   * colour, then given a blend of its own and a shuffled partner's (λ ~ Beta(0.3, 0.3) per image):
   * another microphone's and room's colouring on the same sound, labels unchanged. 0 = off.
   */
  freqMixStyle?: number;
  /**
   * Exponential moving average of the weights (decay per step, e.g. 0.995); validation, selection and
   * the saved model use the averaged weights. 0 = off.
   */
  ema?: number;
  /**
   * Cores to train on (WASM backend only): the batch is split over this many replicas, the calling
   * thread plus worker threads (@soundee/tfjs-wasm-training). Default: all cores.
   */
  replicas?: number;
  onBatch?: (p: { epoch: number; batch: number; batches: number; loss: number; acc: number }) => void;
  onEpochStart?: (p: { epoch: number; phase: 'augment' | 'train'; done: number; total: number }) => void;
  onEpoch?: (log: EpochLog) => void;
  /** Polled between batches; true stops training (the best weights so far are kept). */
  shouldStop?: () => boolean;
}

/**
 * What a model's metadata and a cross-validation report record of a training recipe: the same
 * object for both, so that a final model can be checked to be the recipe its figures judged.
 */
export function recipeRecordOf(o: Omit<TrainOptions, 'patience'>): Record<string, unknown> {
  return {
    head: o.arch === 'resnet' ? o.head : undefined,
    ...(o.arch === 'resnet' && o.widths ? { widths: [...o.widths] } : {}),
    epochs: o.epochs,
    itemsPerEpoch: o.itemsPerEpoch,
    batchSize: o.batchSize,
    lr: o.lr,
    seed: o.seed,
    sampling: o.sampling,
    backgroundWeight: o.backgroundWeight ?? 1,
    labelSmoothing: o.labelSmoothing,
    schedule: o.lrSchedule,
    mixup: o.mixup ?? 0,
    ...(o.freqMixStyle ? { freqMixStyle: o.freqMixStyle } : {}),
    ema: o.ema ?? 0,
    backgroundClasses: [...(o.backgroundClasses ?? [])],
    augment: o.augment,
  };
}

export interface EpochLog {
  epoch: number;
  loss: number;
  acc: number;
  valLoss: number;
  valAcc: number;
  lr: number;
  seconds: number;
  /** Training throughput of the epoch's optimiser steps. */
  imagesPerSec: number;
  /** Time spent rendering augmented images. */
  augmentSeconds: number;
  best: boolean;
}

export interface TrainResult {
  model: tf.LayersModel;
  history: EpochLog[];
  /** Index into history of the kept epoch. */
  bestEpoch: number;
  stoppedEarly: boolean;
  interrupted: boolean;
}

/** Draws one item from a tree of nested groups, every branch of a level equally likely. */
type Tree = number[] | Map<string, Tree>;
function drawFrom(t: Tree, rng: Random): number {
  if (Array.isArray(t)) return t[rng.int(t.length)]!;
  const branches = [...t.values()];
  return drawFrom(branches[rng.int(branches.length)]!, rng);
}

/** Item indices for one epoch. */
function epochOrder(
  ds: Dataset,
  train: readonly number[],
  rng: Random,
  sampling: Sampling,
  n: number,
  background: ReadonlySet<number>,
  backgroundWeight: number,
): number[] {
  if (sampling === 'natural')
    return rng
      .shuffle([...train])
      .slice(0, n)
      .concat(n > train.length ? Array.from({ length: n - train.length }, () => train[rng.int(train.length)]!) : []);
  // class → (package →) (group →) items, each level drawn uniformly
  const keys = (i: number): string[] => {
    const it = ds.header.items[i]!;
    if (sampling === 'groups') return [String(it.label), it.group];
    if (sampling === 'packages') return [String(it.label), it.package ?? it.group, it.group];
    return [String(it.label)];
  };
  const root = new Map<string, Tree>();
  for (const i of train) {
    let node: Map<string, Tree> = root;
    const path = keys(i);
    path.forEach((k, depth) => {
      const last = depth === path.length - 1;
      let next = node.get(k);
      if (!next) node.set(k, (next = last ? [] : new Map()));
      if (last) (next as number[]).push(i);
      else node = next as Map<string, Tree>;
    });
  }
  // the first level (class) is drawn with weights: background classes `backgroundWeight` times as often as a target class
  const classes = [...root.entries()];
  const weights = classes.map(([label]) => (background.has(Number(label)) ? backgroundWeight : 1));
  const total = weights.reduce((a, b) => a + b, 0);
  return Array.from({ length: n }, () => {
    let u = rng.next() * total;
    let k = 0;
    while (k < classes.length - 1 && u >= weights[k]!) u -= weights[k++]!;
    return drawFrom(classes[k]![1], rng);
  });
}

/** ema ← decay·ema + (1−decay)·weights, in place. */
function updateEma(ema: tf.Tensor[], model: tf.LayersModel, decay: number): void {
  const ws = model.getWeights();
  tf.tidy(() => {
    ws.forEach((w, i) => {
      const next = tf.keep(ema[i]!.mul(decay).add(w.mul(1 - decay)));
      ema[i]!.dispose();
      ema[i] = next;
    });
  });
}

/** Stacks uint8 HWC images into a float tensor in [0, 1] (the classifier's one conversion, `toModelInput`). */
export function imagesToTensor(images: readonly Uint8Array[], size: number): tf.Tensor4D {
  const px = size * size * 3;
  const flat = new Float32Array(images.length * px);
  images.forEach((img, k) => {
    toModelInput(img.subarray(0, px), flat, k * px);
  });
  return tf.tensor4d(flat, [images.length, size, size, 3]);
}

function targets(labels: readonly number[], k: number, eps: number): tf.Tensor2D {
  const y = new Float32Array(labels.length * k).fill(eps / k);
  labels.forEach((l, i) => {
    y[i * k + l] = 1 - eps + eps / k;
  });
  return tf.tensor2d(y, [labels.length, k]);
}

/** Probabilities of a model for many stored images, in batches. */
export function predictImages(model: tf.LayersModel, images: readonly Uint8Array[], size: number, batch = 256): Float32Array[] {
  const out: Float32Array[] = [];
  for (let s = 0; s < images.length; s += batch) {
    const probs = tf.tidy(() => (model.predict(imagesToTensor(images.slice(s, s + batch), size)) as tf.Tensor).dataSync() as Float32Array);
    const k = probs.length / Math.min(batch, images.length - s);
    for (let i = 0; i < probs.length / k; i++) out.push(probs.slice(i * k, (i + 1) * k));
  }
  return out;
}

/** What one training run holds between its epochs. */
interface Run {
  readonly ds: Dataset;
  readonly o: TrainOptions;
  readonly model: tf.LayersModel;
  readonly parallel: DataParallelTrainer | undefined;
  readonly rng: Random;
  /** Other clips to mix underneath: any training item, and the background classes' items. */
  readonly sources: MixSources;
  /** The averaged weights (EMA), kept beside the trained ones; swapped in for validation. */
  readonly ema: tf.Tensor[] | undefined;
  /** Optimiser steps so far (the EMA's warm-up). */
  step: number;
}

/** The validation items and their targets, or none (train without validation: keep the last epoch). */
interface Validation {
  readonly images: Uint8Array[];
  readonly labels: number[];
  readonly targets: tf.Tensor2D;
}

/** The items to train and select on; refuses what cannot be trained. */
function trainingItems(ds: Dataset, o: TrainOptions): { train: readonly number[]; valid: readonly number[] | null } {
  const train = o.trainItems ?? ds.indices('train');
  const valid = o.validItems === null ? null : (o.validItems ?? ds.indices('valid'));
  if (!train.length || (valid && !valid.length))
    throw new SoundeeError(
      'ERR_TRAIN',
      `the dataset needs train and valid items (has ${train.length} / ${valid?.length ?? 0}); without a valid split, train without validation (keep the last epoch)`,
    );
  if (o.augment && (!ds.audio || !ds.header.features))
    throw new SoundeeError('ERR_TRAIN', 'augmentation needs an audio dataset (this one holds imported images); train with --no-augment');
  return { train, valid };
}

/** The epoch's learning rate: the peak, or cosine decay to 5 % of it over the epochs. */
function learningRateAt(o: TrainOptions, epoch: number): number {
  return o.lrSchedule === 'cosine' ? o.lr * (0.05 + 0.95 * 0.5 * (1 + Math.cos((Math.PI * epoch) / Math.max(1, o.epochs)))) : o.lr;
}

/**
 * The epoch's images: augmented copies rendered through the one feature path (framing is synchronous
 * JS, each chunk's resize one sharp call), or the stored images. undefined when asked to stop.
 */
async function epochImages(run: Run, order: readonly number[], epoch: number): Promise<Uint8Array[] | undefined> {
  const { ds, o } = run;
  if (!o.augment) return order.map((i) => ds.image(i));
  const images: Uint8Array[] = new Array(order.length);
  const chunk = 64;
  for (let s = 0; s < order.length; s += chunk) {
    const part = order.slice(s, s + chunk);
    const r = await renderAugmented(
      part.map((i) => ds.samples(i)),
      ds.header.features!,
      run.rng,
      o.augment,
      run.sources,
    );
    r.forEach((img, j) => {
      images[s + j] = img;
    });
    o.onEpochStart?.({ epoch, phase: 'augment', done: Math.min(order.length, s + chunk), total: order.length });
    if (o.shouldStop?.()) return undefined;
  }
  return images;
}

/** Mixup: the batch blended with a shuffled copy of itself, λ ~ Beta(α, α); disposes its inputs. */
function mixBatch(xs: tf.Tensor4D, ys: tf.Tensor2D, alpha: number, rng: Random): [tf.Tensor4D, tf.Tensor2D] {
  const n = xs.shape[0];
  const lam = rng.beta(alpha, alpha);
  const perm = tf.tensor1d(rng.shuffle(Array.from({ length: n }, (_, j) => j)), 'int32');
  const [mx, my] = tf.tidy(() => [xs.mul(lam).add(xs.gather(perm).mul(1 - lam)), ys.mul(lam).add(ys.gather(perm).mul(1 - lam))] as const);
  tf.dispose([xs, ys, perm]);
  return [mx as tf.Tensor4D, my as tf.Tensor2D];
}

/** Freq-MixStyle's Beta(α, α) for the blend of an image's band statistics with its partner's. */
const FREQ_MIXSTYLE_ALPHA = 0.3;

/**
 * Freq-MixStyle (Schmid et al., DCASE 2022, for unseen recording devices): each image's frequency rows
 * are standardised by their own statistics over time and colour (NHWC: axes 2 and 3), then rescaled
 * with a per-image blend λ·own + (1 − λ)·partner's, the partner from a shuffle of the batch. Labels are
 * unchanged: the sound stays, its recording chain's colouring changes. Disposes its input.
 */
export function freqMixStyle(xs: tf.Tensor4D, rng: Random, alpha = FREQ_MIXSTYLE_ALPHA): tf.Tensor4D {
  const n = xs.shape[0];
  const perm = tf.tensor1d(rng.shuffle(Array.from({ length: n }, (_, j) => j)), 'int32');
  const lam = tf.tensor4d(
    Float32Array.from({ length: n }, () => rng.beta(alpha, alpha)),
    [n, 1, 1, 1],
  );
  const out = tf.tidy(() => {
    const { mean, variance } = tf.moments(xs, [2, 3], true);
    const sig = variance.add(1e-6).sqrt();
    const mixMean = mean.mul(lam).add(mean.gather(perm).mul(tf.sub(1, lam)));
    const mixSig = sig.mul(lam).add(sig.gather(perm).mul(tf.sub(1, lam)));
    return xs.sub(mean).div(sig).mul(mixSig).add(mixMean) as tf.Tensor4D;
  });
  tf.dispose([xs, perm, lam]);
  return out;
}

/** One epoch's optimiser steps over `order` (its images alongside). */
async function trainBatches(
  run: Run,
  order: readonly number[],
  images: readonly Uint8Array[],
  epoch: number,
): Promise<{ loss: number; acc: number; seen: number; seconds: number; interrupted: boolean }> {
  const { ds, o } = run;
  const size = ds.header.imageSize;
  const batches = Math.ceil(order.length / o.batchSize);
  let lossSum = 0;
  let accSum = 0;
  let seen = 0;
  let interrupted = false;
  const t0 = performance.now();
  for (let b = 0; b < batches && !interrupted; b++) {
    const idx = order.slice(b * o.batchSize, (b + 1) * o.batchSize);
    if (!idx.length) break;
    let xs = imagesToTensor(images.slice(b * o.batchSize, b * o.batchSize + idx.length), size);
    let ys = targets(
      idx.map((i) => ds.header.items[i]!.label),
      ds.classes.length,
      o.labelSmoothing,
    );
    if (o.freqMixStyle && idx.length > 1 && run.rng.next() < o.freqMixStyle) xs = freqMixStyle(xs, run.rng);
    if (o.mixup && idx.length > 1) [xs, ys] = mixBatch(xs, ys, o.mixup, run.rng);
    const [loss, acc] = run.parallel ? await run.parallel.trainOnBatch(xs, ys) : ((await run.model.trainOnBatch(xs, ys)) as number[]);
    tf.dispose([xs, ys]);
    // warm-up: early on, average over the steps so far instead of weighting the random start
    if (run.ema) updateEma(run.ema, run.model, Math.min(o.ema!, (1 + run.step) / (10 + run.step)));
    run.step++;
    lossSum += loss! * idx.length;
    accSum += acc! * idx.length;
    seen += idx.length;
    o.onBatch?.({ epoch, batch: b + 1, batches, loss: lossSum / seen, acc: accSum / seen });
    interrupted = o.shouldStop?.() ?? false;
  }
  return { loss: lossSum / seen, acc: accSum / seen, seen, seconds: (performance.now() - t0) / 1000, interrupted };
}

/** Accuracy and mean cross-entropy of the model on the validation items. */
function validate(model: tf.LayersModel, v: Validation, size: number): { acc: number; loss: number } {
  const probs = predictImages(model, v.images, size);
  const acc = probs.filter((p, i) => p.indexOf(Math.max(...p)) === v.labels[i]).length / probs.length;
  const loss = tf.tidy(
    () =>
      tf.metrics
        .categoricalCrossentropy(
          v.targets,
          tf.tensor2d(Float32Array.from(probs.flatMap((p) => [...p])), [probs.length, v.targets.shape[1]]),
        )
        .mean()
        .dataSync()[0]!,
  );
  return { acc, loss };
}

/** The best epoch so far: its validation figures and a copy of its weights. */
interface Best {
  acc: number;
  loss: number;
  weights: tf.Tensor[];
  epoch: number;
}

/**
 * Validates the epoch's weights (the averaged ones with EMA) and keeps them when they are the best so
 * far; without validation every epoch is "best" (the last one is kept).
 */
function judgeEpoch(
  run: Run,
  v: Validation | undefined,
  best: Best | undefined,
  epoch: number,
): { best: Best | undefined; isBest: boolean; acc: number; loss: number } {
  let trained: tf.Tensor[] | undefined;
  if (run.ema) {
    trained = run.model.getWeights().map((w) => w.clone());
    run.model.setWeights(run.ema);
  }
  const { acc, loss } = v ? validate(run.model, v, run.ds.header.imageSize) : { acc: Number.NaN, loss: Number.NaN };
  const isBest = !v || !best || acc > best.acc + 1e-9 || (Math.abs(acc - best.acc) <= 1e-9 && loss < best.loss);
  if (isBest) {
    tf.dispose(best?.weights ?? []);
    best = { acc, loss, weights: run.model.getWeights().map((w) => w.clone()), epoch };
  }
  if (trained) {
    run.model.setWeights(trained);
    tf.dispose(trained);
  }
  return { best, isBest, acc, loss };
}

/**
 * Trains a fresh network of `o.arch` on the dataset's train split, selecting on its valid split.
 * @throws SoundeeError ERR_TRAIN when a split is empty or augmentation is asked of an image dataset.
 */
export async function trainModel(ds: Dataset, o: TrainOptions): Promise<TrainResult> {
  const { train, valid } = trainingItems(ds, o);
  const rng = new Random(o.seed);
  const model = buildModel(o.arch, {
    numClasses: ds.classes.length,
    seed: o.seed,
    imageSize: ds.header.imageSize,
    ...(o.head ? { head: o.head } : {}),
    ...(o.widths ? { widths: o.widths } : {}),
  });
  const optimizer = tf.train.adam(o.lr);
  model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  // The WASM backend computes on one thread: split each batch across the cores. The trainer applies
  // the same Adam and categorical cross-entropy as the compiled model (verified in its tests).
  const replicas = o.replicas ?? availableParallelism();
  const parallel =
    tf.getBackend() === 'wasm' && replicas > 1
      ? await DataParallelTrainer.create(model, { adam: { learningRate: o.lr }, replicas })
      : undefined;
  const validation: Validation | undefined = valid
    ? {
        images: valid.map((i) => ds.image(i)),
        labels: valid.map((i) => ds.header.items[i]!.label),
        targets: targets(
          valid.map((i) => ds.header.items[i]!.label),
          ds.classes.length,
          0,
        ),
      }
    : undefined;
  const bgLabels = new Set((o.backgroundClasses ?? []).map((c) => ds.classes.indexOf(c)).filter((l) => l >= 0));
  const bgItems = train.filter((i) => bgLabels.has(ds.header.items[i]!.label));
  const run: Run = {
    ds,
    o,
    model,
    parallel,
    rng,
    sources: {
      any: () => ds.samples(train[rng.int(train.length)]!),
      ...(bgItems.length ? { background: () => ds.samples(bgItems[rng.int(bgItems.length)]!) } : {}),
    },
    ema: o.ema ? model.getWeights().map((w) => w.clone()) : undefined,
    step: 0,
  };
  const perEpoch = o.itemsPerEpoch ?? train.length;
  const history: EpochLog[] = [];
  let best: Best | undefined;
  let stoppedEarly = false;
  let interrupted = false;
  try {
    for (let epoch = 0; epoch < o.epochs && !interrupted; epoch++) {
      const t0 = performance.now();
      const lr = learningRateAt(o, epoch);
      (optimizer as unknown as { learningRate: number }).learningRate = lr;
      if (parallel) parallel.learningRate = lr;
      const order = epochOrder(ds, train, rng, o.sampling, perEpoch, bgLabels, o.backgroundWeight ?? 1);
      const ta = performance.now();
      const images = await epochImages(run, order, epoch);
      const augmentSeconds = (performance.now() - ta) / 1000;
      if (!images || o.shouldStop?.()) {
        interrupted = true;
        break;
      }
      const t = await trainBatches(run, order, images, epoch);
      interrupted = t.interrupted;
      if (interrupted && t.seen < perEpoch) break;
      const judged = judgeEpoch(run, validation, best, epoch);
      best = judged.best;
      const log: EpochLog = {
        epoch,
        loss: t.loss,
        acc: t.acc,
        valLoss: judged.loss,
        valAcc: judged.acc,
        lr,
        seconds: (performance.now() - t0) / 1000,
        imagesPerSec: t.seen / t.seconds,
        augmentSeconds,
        best: judged.isBest,
      };
      history.push(log);
      o.onEpoch?.(log);
      if (o.patience > 0 && best && epoch - best.epoch >= o.patience) {
        stoppedEarly = true;
        break;
      }
    }
    if (!best) throw new SoundeeError('ERR_TRAIN', 'stopped before the first epoch completed: nothing to keep');
    model.setWeights(best.weights);
    return { model, history, bestEpoch: best.epoch, stoppedEarly, interrupted };
  } finally {
    await parallel?.close();
    if (run.ema) tf.dispose(run.ema);
    tf.dispose(best?.weights ?? []);
    validation?.targets.dispose();
    // the optimiser's moments are not owned by the model (it was passed in as an object)
    optimizer.dispose();
  }
}
