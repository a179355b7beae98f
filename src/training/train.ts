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

/**
 * Trains a fresh network of `o.arch` on the dataset's train split, selecting on its valid split.
 * @throws SoundeeError ERR_TRAIN when a split is empty or augmentation is asked of an image dataset.
 */
export async function trainModel(ds: Dataset, o: TrainOptions): Promise<TrainResult> {
  const train = o.trainItems ?? ds.indices('train');
  const valid = o.validItems === null ? [] : (o.validItems ?? ds.indices('valid'));
  const validate = o.validItems !== null;
  if (!train.length || (validate && !valid.length))
    throw new SoundeeError(
      'ERR_TRAIN',
      `the dataset needs train and valid items (has ${train.length} / ${valid.length}); without a valid split, train without validation (keep the last epoch)`,
    );
  if (o.augment && (!ds.audio || !ds.header.features))
    throw new SoundeeError('ERR_TRAIN', 'augmentation needs an audio dataset (this one holds imported images); train with --no-augment');
  const k = ds.classes.length;
  const size = ds.header.imageSize;
  const rng = new Random(o.seed);
  const model = buildModel(o.arch, {
    numClasses: k,
    seed: o.seed,
    imageSize: size,
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

  const validImages = valid.map((i) => ds.image(i));
  const validLabels = valid.map((i) => ds.header.items[i]!.label);
  const yValid = targets(validLabels, k, 0);
  const history: EpochLog[] = [];
  // the averaged weights (EMA), kept beside the trained ones; swapped in for validation
  const ema = o.ema ? model.getWeights().map((w) => w.clone()) : undefined;
  let step = 0;
  let best: { acc: number; loss: number; weights: tf.Tensor[]; epoch: number } | undefined;
  let stoppedEarly = false;
  let interrupted = false;
  const perEpoch = o.itemsPerEpoch ?? train.length;
  const batches = Math.ceil(perEpoch / o.batchSize);
  // other clips to mix underneath: any training item, and the background classes' items
  const bgLabels = new Set((o.backgroundClasses ?? []).map((c) => ds.classes.indexOf(c)).filter((l) => l >= 0));
  const bgItems = train.filter((i) => bgLabels.has(ds.header.items[i]!.label));
  const sources: MixSources = {
    any: () => ds.samples(train[rng.int(train.length)]!),
    ...(bgItems.length ? { background: () => ds.samples(bgItems[rng.int(bgItems.length)]!) } : {}),
  };

  try {
    for (let epoch = 0; epoch < o.epochs && !interrupted; epoch++) {
      const t0 = performance.now();
      const lr = o.lrSchedule === 'cosine' ? o.lr * (0.05 + 0.95 * 0.5 * (1 + Math.cos((Math.PI * epoch) / Math.max(1, o.epochs)))) : o.lr;
      (optimizer as unknown as { learningRate: number }).learningRate = lr;
      if (parallel) parallel.learningRate = lr;
      const order = epochOrder(ds, train, rng, o.sampling, perEpoch, bgLabels, o.backgroundWeight ?? 1);
      let images: Uint8Array[];
      const ta = performance.now();
      if (o.augment) {
        images = new Array(order.length);
        const c = ds.header.features!;
        // framing is synchronous JS; the batch's resize is one sharp call (renderWindowImages)
        const chunk = 64;
        for (let s = 0; s < order.length; s += chunk) {
          const part = order.slice(s, s + chunk);
          const r = await renderAugmented(
            part.map((i) => ds.samples(i)),
            c,
            rng,
            o.augment,
            sources,
          );
          r.forEach((img, j) => {
            images[s + j] = img;
          });
          o.onEpochStart?.({ epoch, phase: 'augment', done: Math.min(order.length, s + chunk), total: order.length });
          if (o.shouldStop?.()) break;
        }
      } else images = order.map((i) => ds.image(i));
      const augmentSeconds = (performance.now() - ta) / 1000;
      if (o.shouldStop?.()) {
        interrupted = true;
        break;
      }
      let lossSum = 0;
      let accSum = 0;
      let seen = 0;
      const tt = performance.now();
      for (let b = 0; b < batches; b++) {
        const idx = order.slice(b * o.batchSize, (b + 1) * o.batchSize);
        if (!idx.length) break;
        let xs = imagesToTensor(images.slice(b * o.batchSize, b * o.batchSize + idx.length), size);
        let ys = targets(
          idx.map((i) => ds.header.items[i]!.label),
          k,
          o.labelSmoothing,
        );
        if (o.mixup && idx.length > 1) {
          const lam = rng.beta(o.mixup, o.mixup);
          const perm = tf.tensor1d(rng.shuffle(Array.from({ length: idx.length }, (_, j) => j)), 'int32');
          const [mx, my] = tf.tidy(
            () => [xs.mul(lam).add(xs.gather(perm).mul(1 - lam)), ys.mul(lam).add(ys.gather(perm).mul(1 - lam))] as const,
          );
          tf.dispose([xs, ys, perm]);
          xs = mx as tf.Tensor4D;
          ys = my as tf.Tensor2D;
        }
        const [loss, acc] = parallel ? await parallel.trainOnBatch(xs, ys) : ((await model.trainOnBatch(xs, ys)) as number[]);
        xs.dispose();
        ys.dispose();
        // warm-up: early on, average over the steps so far instead of weighting the random start
        if (ema) updateEma(ema, model, Math.min(o.ema!, (1 + step) / (10 + step)));
        step++;
        lossSum += loss! * idx.length;
        accSum += acc! * idx.length;
        seen += idx.length;
        o.onBatch?.({ epoch, batch: b + 1, batches, loss: lossSum / seen, acc: accSum / seen });
        if (o.shouldStop?.()) {
          interrupted = true;
          break;
        }
      }
      const trainSeconds = (performance.now() - tt) / 1000;
      if (interrupted && seen < perEpoch) break;
      let trained: tf.Tensor[] | undefined;
      if (ema) {
        trained = model.getWeights().map((w) => w.clone());
        model.setWeights(ema);
      }
      // without validation every epoch is "best": the last one is kept
      let valAcc = Number.NaN;
      let valLoss = Number.NaN;
      if (validate) {
        const probs = predictImages(model, validImages, size);
        valAcc = probs.filter((p, i) => p.indexOf(Math.max(...p)) === validLabels[i]).length / probs.length;
        valLoss = tf.tidy(
          () =>
            tf.metrics
              .categoricalCrossentropy(
                yValid,
                tf.tensor2d(
                  probs.flatMap((p) => [...p]),
                  [probs.length, k],
                ),
              )
              .mean()
              .dataSync()[0]!,
        );
      }
      const isBest = !validate || !best || valAcc > best.acc + 1e-9 || (Math.abs(valAcc - best.acc) <= 1e-9 && valLoss < best.loss);
      if (isBest) {
        best?.weights.forEach((w) => {
          w.dispose();
        });
        best = { acc: valAcc, loss: valLoss, weights: model.getWeights().map((w) => w.clone()), epoch };
      }
      if (trained) {
        model.setWeights(trained);
        tf.dispose(trained);
      }
      const log: EpochLog = {
        epoch,
        loss: lossSum / seen,
        acc: accSum / seen,
        valLoss,
        valAcc,
        lr,
        seconds: (performance.now() - t0) / 1000,
        imagesPerSec: seen / trainSeconds,
        augmentSeconds,
        best: isBest,
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
    if (ema) tf.dispose(ema);
    best?.weights.forEach((w) => {
      w.dispose();
    });
    yValid.dispose();
    // the optimiser's moments are not owned by the model (it was passed in as an object)
    optimizer.dispose();
  }
}
