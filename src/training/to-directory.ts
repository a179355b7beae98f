/**
 * `trainToDirectory`: a dataset file in, a model directory out — what `soundee train` does, as a
 * library function: train (keeping the best epoch on the valid split, or every item and the last
 * epoch without validation), save the model with its metadata (classes, background classes, feature
 * config, threshold, how it was trained, and what a cross-validation handed over: temperature, event
 * thresholds, figures), its history and training curves, then evaluate the saved model once on the
 * test split and write that report beside it.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULTS, type FeatureConfig, resolveFeatureConfig } from '../config.ts';
import { type Dataset, readDataset } from '../data/dataset-file.ts';
import { Classifier } from '../model/classifier.ts';
import { type ModelMetadata, type WeightQuantization, loadModel, saveModel, updateMetadata } from '../model/io.ts';
import { evaluateOnDataset } from './evaluate.ts';
import type { EvaluationReport } from './metrics.ts';
import { formatReport } from './metrics.ts';
import { confusionSvg, trainingCurvesSvg, writeSvg } from './plots.ts';
import { type EpochLog, type TrainOptions, recipeRecordOf, trainModel } from './train.ts';

/** What a cross-validation of the same recipe hands the final model (see `handoverFrom` in ./cv-report.ts). */
export type ModelHandover = Pick<ModelMetadata, 'calibration' | 'eventThresholds' | 'evaluation'>;

/** What to train and where to write it. */
export interface TrainToDirectoryOptions extends Omit<TrainOptions, 'trainItems' | 'validItems'> {
  /** Dataset file (from `dataset build`), or a dataset already read. */
  data: string | Dataset;
  /** How the metadata names the dataset. Default: its path, or the read dataset's source. */
  dataName?: string;
  /**
   * true (default): train on the train split, keep the epoch with the best accuracy on the valid
   * split, evaluate on the test split. false: train on every item for `epochs` and keep the last
   * epoch — a final model whose figures are its recipe's cross-validation (`handover`).
   */
  validation?: boolean;
  /** Temperature, event thresholds and figures from `soundee cv`, stored in the metadata. */
  handover?: ModelHandover;
  /** Model directory to write. */
  out: string;
  /** Model name shown to clients. Default: the directory's name. */
  name?: string;
  /** Weight storage. Default 'none' (float32). */
  quantize?: WeightQuantization;
  /** The model's "cannot tell" threshold. Default `DEFAULTS.confidenceThreshold` (0.4). */
  threshold?: number;
  /** The backend it trained on, recorded in the metadata. */
  backend?: string;
  /** Told once the dataset is read, before training (e.g. to say how many items it has). */
  onStart?: (info: { dataset: Dataset; features: FeatureConfig; importedImages: boolean }) => void;
}

/** What `trainToDirectory` did. */
export interface TrainToDirectoryResult {
  out: string;
  name: string;
  /** Items trained on (the train split, or every item without validation). */
  trainItems: number;
  /** Items the kept epoch was chosen on (0 without validation). */
  validItems: number;
  history: EpochLog[];
  /** Index into history of the kept epoch. */
  bestEpoch: number;
  stoppedEarly: boolean;
  interrupted: boolean;
  seconds: number;
  params: number;
  /** The saved model on the test split (absent when the dataset has no test items). */
  evaluation?: EvaluationReport;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Trains on a dataset file and writes a complete model directory: model.json, weights.bin,
 * metadata.json, history.json, training-curves.png and, when there is a test split, evaluation.json,
 * evaluation.txt and confusion.png (the test split is looked at once, after selection, with the saved
 * — possibly quantised — model). The backend must be initialised.
 * @throws SoundeeError from reading the dataset or training (ERR_DATASET, ERR_TRAIN).
 */
export async function trainToDirectory(o: TrainToDirectoryOptions): Promise<TrainToDirectoryResult> {
  const ds = typeof o.data === 'string' ? await readDataset(o.data) : o.data;
  const dataset = o.dataName ?? (typeof o.data === 'string' ? o.data : ds.header.source);
  const features = ds.header.features ?? resolveFeatureConfig({ imageSize: ds.header.imageSize });
  const validation = o.validation ?? true;
  const trainItems = validation ? ds.indices('train') : ds.header.items.map((_, i) => i);
  const validItems = validation ? ds.indices('valid') : null;
  o.onStart?.({ dataset: ds, features, importedImages: !ds.header.features });
  const started = performance.now();
  const result = await trainModel(ds, { ...o, trainItems, validItems });
  const { model, history, bestEpoch } = result;
  const seconds = (performance.now() - started) / 1000;
  const name = o.name ?? o.out.replace(/\/+$/, '').split('/').pop()!;
  const params = model.countParams();
  const backgroundClasses = [...(o.backgroundClasses ?? [])];
  const meta: Omit<ModelMetadata, 'format' | 'formatVersion' | 'createdAt' | 'weights'> = {
    name,
    architecture: o.arch,
    classes: ds.classes,
    ...(backgroundClasses.length ? { backgroundClasses } : {}),
    features,
    confidenceThreshold: o.threshold ?? DEFAULTS.confidenceThreshold,
    ...(o.handover?.calibration ? { calibration: o.handover.calibration } : {}),
    ...(o.handover?.eventThresholds ? { eventThresholds: o.handover.eventThresholds } : {}),
    training: trainingRecord(o, { dataset, params, trainItems: trainItems.length, validation, result, seconds }),
    ...(o.handover?.evaluation ? { evaluation: o.handover.evaluation } : {}),
  };
  try {
    await saveModel(model, o.out, meta, { quantization: o.quantize ?? 'none' });
  } finally {
    model.dispose();
  }
  await writeFile(join(o.out, 'history.json'), `${JSON.stringify(history, null, 1)}\n`);
  await writeSvg(
    join(o.out, 'training-curves.png'),
    trainingCurvesSvg(
      {
        loss: history.map((h) => h.loss),
        acc: history.map((h) => h.acc),
        valLoss: history.map((h) => h.valLoss),
        valAcc: history.map((h) => h.valAcc),
      },
      bestEpoch,
      `${name}: ${o.arch} on ${dataset} (kept epoch ${bestEpoch + 1}${validation ? '' : ', no validation'})`,
    ),
  );
  const out: TrainToDirectoryResult = {
    out: o.out,
    name,
    trainItems: trainItems.length,
    validItems: validItems?.length ?? 0,
    history,
    bestEpoch,
    stoppedEarly: result.stoppedEarly,
    interrupted: result.interrupted,
    seconds,
    params,
  };
  // a model trained on every item has no test split left to judge it: its figures are the cross-validation's
  if (validation && ds.indices('test').length) out.evaluation = await evaluateSaved(o.out, ds, dataset, name);
  return out;
}

/** What the metadata records of how a model was trained. */
function trainingRecord(
  o: TrainToDirectoryOptions,
  r: {
    dataset: string;
    params: number;
    trainItems: number;
    validation: boolean;
    result: Awaited<ReturnType<typeof trainModel>>;
    seconds: number;
  },
): Record<string, unknown> {
  const { history, bestEpoch } = r.result;
  return {
    dataset: r.dataset,
    backend: o.backend,
    arch: o.arch,
    params: r.params,
    items: r.trainItems,
    validation: r.validation,
    epochsRun: history.length,
    keptEpoch: bestEpoch + 1,
    stoppedEarly: r.result.stoppedEarly,
    interrupted: r.result.interrupted,
    seconds: Math.round(r.seconds),
    options: { ...recipeRecordOf(o), patience: o.patience },
    ...(r.validation ? { best: { valAcc: history[bestEpoch]!.valAcc, valLoss: history[bestEpoch]!.valLoss } } : {}),
    medianImagesPerSec: median(history.map((h) => h.imagesPerSec)),
  };
}

/** Evaluates the saved model on the test split and writes the report, its text and the confusion matrix beside it. */
async function evaluateSaved(dir: string, ds: Dataset, dataset: string, name: string): Promise<EvaluationReport> {
  const cls = new Classifier(await loadModel(dir));
  try {
    const { report } = await evaluateOnDataset(cls, ds, 'test');
    const evaluation = { split: 'test', dataset, ...report };
    await updateMetadata(dir, { evaluation });
    await writeFile(join(dir, 'evaluation.json'), `${JSON.stringify(evaluation, null, 1)}\n`);
    await writeFile(join(dir, 'evaluation.txt'), `${formatReport(report)}\n`);
    await writeSvg(
      join(dir, 'confusion.png'),
      confusionSvg(
        report.classes,
        report.confusion,
        `${name} on the test split: accuracy ${(100 * report.accuracy).toFixed(1)}%, macro-F1 ${report.macroF1.toFixed(3)}`,
      ),
    );
    return report;
  } finally {
    cls.dispose();
  }
}
