/**
 * Training: the capstone's loop done properly. Adam, categorical cross-entropy, mini-batches; per
 * epoch an augmented copy of the training audio rendered through the one feature path; validation
 * accuracy after every epoch; the best epoch's weights kept; early stopping; stop on request (Ctrl-C)
 * with the best weights so far.
 */
import * as tf from '@tensorflow/tfjs';
import { SoundeeError } from '../config.ts';
import { type AugmentOptions, renderAugmented } from '../data/augment.ts';
import type { Dataset } from '../data/dataset-file.ts';
import { availableParallelism } from 'node:os';
import { Random } from '../util/random.ts';
import { type Architecture, buildModel } from '../model/architectures.ts';
import { toModelInput } from '../model/classifier.ts';
import { DataParallelTrainer } from '@soundee/tfjs-wasm-training';

export interface TrainOptions {
  arch: Architecture;
  /** resnet: classifier head (see ArchitectureOptions.head). */
  head?: 'freq' | 'gap';
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
   * 'natural': the dataset's proportions.
   */
  sampling: 'balanced' | 'groups' | 'natural';
  /** Label smoothing ε (targets (1-ε)·onehot + ε/K); 0 for plain one-hot. */
  labelSmoothing: number;
  /** 'cosine' decays the learning rate to 5 % over the epochs; 'constant' keeps it. */
  lrSchedule: 'cosine' | 'constant';
  /** Items per epoch (default: the number of training items). */
  itemsPerEpoch?: number;
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

/** Item indices for one epoch. */
function epochOrder(ds: Dataset, train: number[], rng: Random, sampling: TrainOptions['sampling'], n: number): number[] {
  if (sampling === 'natural')
    return rng
      .shuffle([...train])
      .slice(0, n)
      .concat(n > train.length ? Array.from({ length: n - train.length }, () => train[rng.int(train.length)]!) : []);
  const byClass = ds.classes.map(() => new Map<string, number[]>());
  for (const i of train) {
    const it = ds.header.items[i]!;
    const g = byClass[it.label]!;
    g.set(it.group, [...(g.get(it.group) ?? []), i]);
  }
  const present = byClass.filter((c) => c.size).map((c) => [...c.values()]);
  return Array.from({ length: n }, () => {
    const groups = present[rng.int(present.length)]!;
    if (sampling === 'groups') {
      const g = groups[rng.int(groups.length)]!;
      return g[rng.int(g.length)]!;
    }
    const total = groups.reduce((a, g) => a + g.length, 0);
    let k = rng.int(total);
    for (const g of groups) {
      if (k < g.length) return g[k]!;
      k -= g.length;
    }
    throw new Error('unreachable');
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
  const train = ds.indices('train');
  const valid = ds.indices('valid');
  if (!train.length || !valid.length)
    throw new SoundeeError('ERR_TRAIN', `the dataset needs train and valid items (has ${train.length} / ${valid.length})`);
  if (o.augment && (!ds.audio || !ds.header.features))
    throw new SoundeeError('ERR_TRAIN', 'augmentation needs an audio dataset (this one holds imported images); train with --no-augment');
  const k = ds.classes.length;
  const size = ds.header.imageSize;
  const rng = new Random(o.seed);
  const model = buildModel(o.arch, { numClasses: k, seed: o.seed, imageSize: size, ...(o.head ? { head: o.head } : {}) });
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
  // background clips for mixing: any training item
  const background = () => ds.samples(train[rng.int(train.length)]!);

  try {
    for (let epoch = 0; epoch < o.epochs && !interrupted; epoch++) {
      const t0 = performance.now();
      const lr = o.lrSchedule === 'cosine' ? o.lr * (0.05 + 0.95 * 0.5 * (1 + Math.cos((Math.PI * epoch) / Math.max(1, o.epochs)))) : o.lr;
      (optimizer as unknown as { learningRate: number }).learningRate = lr;
      if (parallel) parallel.learningRate = lr;
      const order = epochOrder(ds, train, rng, o.sampling, perEpoch);
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
            background,
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
      const probs = predictImages(model, validImages, size);
      const valAcc = probs.filter((p, i) => p.indexOf(Math.max(...p)) === validLabels[i]).length / probs.length;
      const valLoss = tf.tidy(
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
      const isBest = !best || valAcc > best.acc + 1e-9 || (Math.abs(valAcc - best.acc) <= 1e-9 && valLoss < best.loss);
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
