/**
 * Cross-validation by package: the honest figure of how a recipe does on recordings from sources it
 * never heard. Each fold's model is trained (fixed epochs, no selection on held-out data) on the other
 * folds' packages and predicts its own fold's items; the held-out ("out-of-fold") predictions of all
 * folds are pooled into one report.
 *
 * Everything fitted on held-out predictions — the temperature that calibrates the probabilities and
 * the per-class event thresholds — is cross-fitted: fold k's temperature and thresholds are fitted on
 * the other folds' held-out predictions and judged on fold k's, so no reported figure is fitted on
 * itself. The values for a final model (trained on all the data with the same recipe) are fitted on
 * all the held-out predictions.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/dataset-file.ts';
import type { EventOptions, ScoredWindow } from '../events/tracker.ts';
import { type CalibrationReport, applyTemperature, calibrationReport, fitTemperature } from './calibration.ts';
import { type FalseAlarmReport, countEventStarts } from './false-alarms.ts';
import type { FoldPlan } from './folds.ts';
import { type EvaluationReport, evaluatePredictions } from './metrics.ts';
import { chooseEventThresholds } from './thresholds.ts';
import { type EpochLog, type TrainOptions, predictImages, trainModel } from './train.ts';

export interface CvOptions {
  /** Which packages each fold holds out (packageFolds). */
  plan: FoldPlan;
  /** The training recipe every fold uses (its items and validation are set per fold). */
  train: Omit<TrainOptions, 'trainItems' | 'validItems'>;
  /** Called before a fold is trained. */
  onFoldStart?: (fold: number, folds: number, heldOut: readonly string[]) => void;
  /**
   * A fold's held-out predictions from an earlier run (to resume an interrupted cross-validation);
   * undefined trains the fold.
   */
  cached?: (fold: number) => Promise<Float32Array[] | undefined>;
  /** Called with each trained fold's model and its held-out predictions (e.g. to save both); the model is disposed after. */
  onFoldDone?: (fold: number, model: tf.LayersModel, heldOut: number[], probs: Float32Array[], history: EpochLog[]) => Promise<void>;
}

export interface CvResult {
  plan: FoldPlan;
  /** Held-out probabilities of every item (dataset order), from the model that did not train on it. */
  probs: Float32Array[];
  /** Training histories per fold (empty for folds taken from the cache). */
  histories: EpochLog[][];
  /** Wall-clock seconds per fold (0 for cached folds). */
  seconds: number[];
}

/** Trains one model per fold and collects the held-out predictions. */
export async function crossValidate(ds: Dataset, o: CvOptions): Promise<CvResult> {
  const { plan } = o;
  const k = plan.packages.length;
  const probs: Float32Array[] = new Array(ds.size);
  const histories: EpochLog[][] = [];
  const seconds: number[] = [];
  for (let f = 0; f < k; f++) {
    const heldOut: number[] = [];
    const train: number[] = [];
    plan.foldOf.forEach((g, i) => {
      (g === f ? heldOut : train).push(i);
    });
    let p = await o.cached?.(f);
    const t0 = performance.now();
    let history: EpochLog[] = [];
    if (!p || p.length !== heldOut.length) {
      o.onFoldStart?.(f, k, plan.packages[f]!);
      const r = await trainModel(ds, { ...o.train, trainItems: train, validItems: null });
      history = r.history;
      try {
        p = predictImages(
          r.model,
          heldOut.map((i) => ds.image(i)),
          ds.header.imageSize,
        );
        await o.onFoldDone?.(f, r.model, heldOut, p, history);
      } finally {
        r.model.dispose();
      }
      if (r.interrupted) throw Object.assign(new Error('cross-validation interrupted'), { code: 'ERR_INTERRUPTED' });
    }
    heldOut.forEach((i, j) => {
      probs[i] = p![j]!;
    });
    histories.push(history);
    seconds.push(history.length ? (performance.now() - t0) / 1000 : 0);
  }
  return { plan, probs, histories, seconds };
}

/** One held-out prediction's item: what the analysis needs to know of it. */
export interface HeldOutItem {
  clip: string;
  /** Window number within the clip (windows are `hopMillis` apart). */
  window: number;
  label: number;
  package: string;
  fold: number;
  /** RMS level of the window, dBFS (the event layer's level gate). */
  rmsDb: number;
}

/**
 * The held-out predictions of a cross-validation, self-contained: everything the analysis reads, so
 * that the report can be recomputed from a saved copy (the bundled model's test does).
 */
export interface HeldOutPredictions {
  classes: string[];
  windowMillis: number;
  hopMillis: number;
  folds: number;
  items: HeldOutItem[];
  /** Probabilities per item, rounded to 5 decimals (what is saved is what is analysed). */
  probs: Float32Array[];
}

function rmsDb(x: Float32Array): number {
  let s = 0;
  for (const v of x) s += v * v;
  return 10 * Math.log10(s / x.length);
}

/** The held-out predictions of a cross-validation of `ds`. */
export function heldOutPredictions(ds: Dataset, cv: CvResult): HeldOutPredictions {
  const c = ds.header.features;
  if (!c) throw new Error('cross-validation needs an audio dataset (its feature config dates the windows)');
  return {
    classes: [...ds.classes],
    windowMillis: c.windowMillis,
    hopMillis: c.hopMillis,
    folds: cv.plan.packages.length,
    items: ds.header.items.map((it, i) => ({
      clip: it.clip,
      window: it.window,
      label: it.label,
      package: it.package!,
      fold: cv.plan.foldOf[i]!,
      rmsDb: Math.round(rmsDb(ds.samples(i)) * 100) / 100,
    })),
    probs: cv.probs.map((p) => Float32Array.from(p, (v) => Math.round(v * 1e5) / 1e5)),
  };
}

/** How held-out predictions are judged. */
export interface CvAnalysisOptions {
  /** Classes of "none of these" sounds (never events; their clips are the non-target audio). */
  backgroundClasses: readonly string[];
  /** The "cannot tell" threshold of the report's unknown share. Default 0.4. */
  threshold?: number;
  /** Bins of the expected calibration error. Default 15. */
  bins?: number;
  /** False alarms per hour allowed for all classes together when choosing event thresholds. Default 1. */
  falseAlarmsPerHour?: number;
  /** Event settings other than thresholds (smoothing, minimum duration…). Default: the event layer's. */
  events?: EventOptions;
}

/** Figures over the target classes only (items of background classes left out; a background answer on a target is a miss). */
export interface TargetFigures {
  classes: string[];
  n: number;
  accuracy: number;
  /**
   * Mean of per-class F1 over the target classes, on the target items (as `evaluate` on a folder of
   * the eight classes counts it: a background answer is a miss, precision is among target items).
   */
  macroF1: number;
  /** Mean per-class recall. */
  balancedAccuracy: number;
  recall: Record<string, number>;
  /** Per-class precision among the target items. */
  precision: Record<string, number>;
  /**
   * Open set: macro-F1 and precision when the background items count too (a background window called
   * a target is a false positive). Depends on how much background the dataset holds.
   */
  openSet: { macroF1: number; precision: Record<string, number> };
}

export interface CvAnalysis {
  /** Calibrated held-out probabilities (dataset order). */
  calibrated: Float32Array[];
  /** All classes, calibrated probabilities (the top class is the same as before calibration). */
  report: EvaluationReport;
  targets: TargetFigures;
  /** Background items whose top class is a background class. */
  backgroundRejection: number | null;
  calibration: {
    bins: number;
    /** Temperature of each fold, fitted on the other folds' held-out predictions. */
    foldTemperatures: number[];
    /** Fitted on all held-out predictions: the value for a final model. */
    temperature: number;
    before: CalibrationReport;
    after: CalibrationReport;
  };
  thresholds: {
    /** Per fold, chosen on the other folds' background streams. */
    perFold: Record<string, number>[];
    /** Chosen on all background streams: the values for a final model. */
    final: Record<string, number>;
    /** Per class: share of its held-out windows whose calibrated probability reaches the fold's threshold. */
    windowRecall: Record<string, number>;
    falseAlarmsPerHour: number;
  };
  /** Event starts on the held-out background clips, with the fold's cross-fitted thresholds. */
  falseAlarms: FalseAlarmReport | null;
}

/** Some items as streams (one per clip, windows in time order) of scored windows, for the event layer. */
function streamsOf(t: HeldOutPredictions, probs: readonly Float32Array[], items: readonly number[]): Map<string, ScoredWindow[]> {
  const byClip = new Map<string, number[]>();
  for (const i of items) {
    const clip = t.items[i]!.clip;
    byClip.set(clip, [...(byClip.get(clip) ?? []), i]);
  }
  const out = new Map<string, ScoredWindow[]>();
  for (const [clip, idx] of byClip) {
    idx.sort((a, b) => t.items[a]!.window - t.items[b]!.window);
    out.set(
      clip,
      idx.map((i) => {
        const startMs = t.items[i]!.window * t.hopMillis;
        const p = probs[i]!;
        return {
          streamId: clip,
          startMs,
          endMs: startMs + t.windowMillis,
          scores: Object.fromEntries(t.classes.map((name, k) => [name, p[k]!])),
          rmsDb: t.items[i]!.rmsDb,
        };
      }),
    );
  }
  return out;
}

/** Calibration, metrics, event thresholds and false alarms of a cross-validation's held-out predictions. */
export function analyseHeldOut(t: HeldOutPredictions, o: CvAnalysisOptions): CvAnalysis {
  const bins = o.bins ?? 15;
  const k = t.folds;
  const truth = t.items.map((it) => it.label);
  const foldItems = Array.from({ length: k }, () => [] as number[]);
  t.items.forEach((it, i) => {
    foldItems[it.fold]!.push(i);
  });
  const others = (f: number) => foldItems.flatMap((x, g) => (g === f ? [] : x));
  const fit = (idx: readonly number[]) =>
    fitTemperature(
      idx.map((i) => t.probs[i]!),
      idx.map((i) => truth[i]!),
    );
  const foldTemperatures = foldItems.map((_, f) => fit(others(f)));
  const calibrated: Float32Array[] = new Array(t.items.length);
  foldItems.forEach((idx, f) => {
    for (const i of idx) calibrated[i] = applyTemperature(t.probs[i]!, foldTemperatures[f]!);
  });
  const report = evaluatePredictions(t.classes, truth, calibrated, o.threshold ?? 0.4);

  const bgLabels = new Set(o.backgroundClasses.map((c) => t.classes.indexOf(c)).filter((l) => l >= 0));
  const targets = targetFigures(t.classes, report, bgLabels);
  const bgItems = truth.flatMap((l, i) => (bgLabels.has(l) ? [i] : []));
  const bgRight = bgItems.filter((i) => {
    const p = calibrated[i]!;
    return bgLabels.has(p.indexOf(Math.max(...p)));
  }).length;

  const { thresholds, falseAlarms } = crossFittedThresholds(t, calibrated, foldItems, bgLabels, o);
  return {
    calibrated,
    report,
    targets,
    backgroundRejection: bgItems.length ? bgRight / bgItems.length : null,
    calibration: {
      bins,
      foldTemperatures,
      temperature: fit(truth.map((_, i) => i)),
      before: calibrationReport(t.probs, truth, bins),
      after: calibrationReport(calibrated, truth, bins),
    },
    thresholds,
    falseAlarms,
  };
}

/** The figures over the target classes (closed set: precision among the target rows), open-set ones beside them. */
function targetFigures(classes: readonly string[], report: EvaluationReport, bgLabels: ReadonlySet<number>): TargetFigures {
  const targetIdx = classes.map((_, i) => i).filter((i) => !bgLabels.has(i));
  const conf = report.confusion;
  const targetN = targetIdx.reduce((a, c) => a + conf[c]!.reduce((x, y) => x + y, 0), 0);
  const targetRight = targetIdx.reduce((a, c) => a + conf[c]![c]!, 0);
  const perClass = (c: number) => report.perClass[classes[c]!]!;
  const closed = targetIdx.map((c) => {
    const tp = conf[c]![c]!;
    const called = targetIdx.reduce((a, r) => a + conf[r]![c]!, 0);
    const precision = called ? tp / called : 0;
    const recall = perClass(c).recall;
    return { precision, f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0 };
  });
  const named = <T>(f: (c: number, k: number) => T) => Object.fromEntries(targetIdx.map((c, k) => [classes[c]!, f(c, k)]));
  return {
    classes: targetIdx.map((c) => classes[c]!),
    n: targetN,
    accuracy: targetN ? targetRight / targetN : 0,
    macroF1: closed.reduce((a, x) => a + x.f1, 0) / targetIdx.length,
    balancedAccuracy: targetIdx.reduce((a, c) => a + perClass(c).recall, 0) / targetIdx.length,
    recall: named((c) => perClass(c).recall),
    precision: named((_, k) => closed[k]!.precision),
    openSet: {
      macroF1: targetIdx.reduce((a, c) => a + perClass(c).f1, 0) / targetIdx.length,
      precision: named((c) => perClass(c).precision),
    },
  };
}

/**
 * Per-class event thresholds chosen on the background clips replayed through the event layer:
 * fold k's on the other folds' clips (cross-fitting), the final ones on all; the window recall they
 * leave, and the false alarms on each fold's own clips with its thresholds.
 */
function crossFittedThresholds(
  t: HeldOutPredictions,
  calibrated: readonly Float32Array[],
  foldItems: readonly (readonly number[])[],
  bgLabels: ReadonlySet<number>,
  o: CvAnalysisOptions,
): { thresholds: CvAnalysis['thresholds']; falseAlarms: FalseAlarmReport | null } {
  const truth = t.items.map((it) => it.label);
  const bgItems = truth.flatMap((l, i) => (bgLabels.has(l) ? [i] : []));
  const faPerHour = o.falseAlarmsPerHour ?? 1;
  const base: EventOptions = { ...(o.events ?? {}), backgroundClasses: [...o.backgroundClasses] };
  const tracked = t.classes.filter((c) => !o.backgroundClasses.includes(c));
  const search = { perClassPerHour: faPerHour / Math.max(1, tracked.length) };
  const bgOfFold = foldItems.map((idx) => idx.filter((i) => bgLabels.has(truth[i]!)));
  const perFold = foldItems.map((_, f) =>
    chooseEventThresholds(
      streamsOf(
        t,
        calibrated,
        bgOfFold.flatMap((x, g) => (g === f ? [] : x)),
      ),
      t.classes,
      base,
      search,
    ),
  );
  const final = chooseEventThresholds(streamsOf(t, calibrated, bgItems), t.classes, base, search);
  const windowRecall: Record<string, number> = {};
  for (const c of tracked) {
    const l = t.classes.indexOf(c);
    let hit = 0;
    let n = 0;
    foldItems.forEach((idx, f) => {
      for (const i of idx)
        if (truth[i] === l) {
          n++;
          if (calibrated[i]![l]! >= perFold[f]![c]!) hit++;
        }
    });
    windowRecall[c] = n ? hit / n : 0;
  }
  let falseAlarms: FalseAlarmReport | null = null;
  if (bgItems.length) {
    const parts = foldItems.map((_, f) =>
      countEventStarts(streamsOf(t, calibrated, bgOfFold[f]!), t.classes, thresholdOptions(perFold[f]!, base)),
    );
    falseAlarms = poolFalseAlarms(parts, tracked);
  }
  return { thresholds: { perFold, final, windowRecall, falseAlarmsPerHour: faPerHour }, falseAlarms };
}

/** Several false-alarm counts as one (sums of starts and hours). */
export function poolFalseAlarms(parts: readonly FalseAlarmReport[], tracked: readonly string[]): FalseAlarmReport {
  const hours = parts.reduce((a, p) => a + p.hours, 0);
  const starts = parts.reduce((a, p) => a + p.starts, 0);
  return {
    hours,
    streams: parts.reduce((a, p) => a + p.streams, 0),
    starts,
    perHour: hours ? starts / hours : 0,
    byClass: Object.fromEntries(tracked.map((c) => [c, parts.reduce((a, p) => a + (p.byClass[c] ?? 0), 0)])),
    streamsWithEvents: parts.flatMap((p) => p.streamsWithEvents),
  };
}

/** The event options a model's thresholds give (for replaying with them). */
export function thresholdOptions(thresholds: Record<string, number>, base: EventOptions = {}): EventOptions {
  return { ...base, perClass: Object.fromEntries(Object.entries(thresholds).map(([c, t]) => [c, { threshold: t }])) };
}
