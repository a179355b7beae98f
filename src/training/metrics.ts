/** Classification metrics: accuracy, per-class precision/recall/F1, macro-F1, confusion matrix. */
import { UNKNOWN_LABEL } from '../config.ts';

export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  /** True items of the class. */
  support: number;
}

export interface EvaluationReport {
  classes: string[];
  /** Items evaluated. */
  n: number;
  /** Share of items whose top class is the true class (the threshold does not apply). */
  accuracy: number;
  /** Unweighted mean of per-class F1 over the classes present (in the truth or the predictions). */
  macroF1: number;
  perClass: Record<string, ClassMetrics>;
  /** confusion[true][predicted], top class (threshold not applied). */
  confusion: number[][];
  /** Share of items whose top probability is under the threshold (reported as unknown). */
  unknownShare: number;
  threshold: number;
  /** Accuracy over the items above the threshold, and their share. */
  accuracyAboveThreshold: number;
  /** Mean top probability, a simple calibration check against accuracy. */
  meanConfidence: number;
}

/**
 * Computes the report from true labels and probability rows.
 * @param probs one row per item, in `classes` order.
 */
export function evaluatePredictions(
  classes: readonly string[],
  truth: readonly number[],
  probs: readonly Float32Array[],
  threshold: number,
): EvaluationReport {
  const k = classes.length;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let correct = 0;
  let unknown = 0;
  let aboveCorrect = 0;
  let sumConf = 0;
  truth.forEach((t, i) => {
    const p = probs[i]!;
    let best = 0;
    for (let j = 1; j < k; j++) if (p[j]! > p[best]!) best = j;
    confusion[t]![best]!++;
    sumConf += p[best]!;
    if (best === t) correct++;
    if (p[best]! < threshold) unknown++;
    else if (best === t) aboveCorrect++;
  });
  const perClass: Record<string, ClassMetrics> = {};
  let f1sum = 0;
  let present = 0;
  classes.forEach((name, c) => {
    const tp = confusion[c]![c]!;
    const support = confusion[c]!.reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((a, row) => a + row[c]!, 0);
    const precision = predicted ? tp / predicted : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    perClass[name] = { precision, recall, f1, support };
    if (support || predicted) {
      f1sum += f1;
      present++;
    }
  });
  const n = truth.length;
  return {
    classes: [...classes],
    n,
    accuracy: n ? correct / n : 0,
    macroF1: present ? f1sum / present : 0,
    perClass,
    confusion,
    unknownShare: n ? unknown / n : 0,
    threshold,
    accuracyAboveThreshold: n - unknown ? aboveCorrect / (n - unknown) : 0,
    meanConfidence: n ? sumConf / n : 0,
  };
}

/** The report as readable text: summary, per-class table, confusion matrix. */
export function formatReport(r: EvaluationReport): string {
  const w = Math.max(9, ...r.classes.map((c) => c.length));
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const lines = [
    `items ${r.n}   accuracy ${pct(r.accuracy)}   macro-F1 ${r.macroF1.toFixed(3)}   mean confidence ${r.meanConfidence.toFixed(3)}`,
    `under the ${r.threshold} threshold ("${UNKNOWN_LABEL}"): ${pct(r.unknownShare)} of items; accuracy of the rest ${pct(r.accuracyAboveThreshold)}`,
    '',
    `${'class'.padEnd(w)}  precision  recall     F1  support`,
    ...r.classes.map((c) => {
      const m = r.perClass[c]!;
      return `${c.padEnd(w)}  ${m.precision.toFixed(3).padStart(9)}  ${m.recall.toFixed(3).padStart(6)}  ${m.f1.toFixed(3).padStart(5)}  ${String(m.support).padStart(7)}`;
    }),
    '',
    `confusion (rows: true class, columns: predicted)`,
    `${''.padEnd(w)}  ${r.classes.map((c) => c.slice(0, 6).padStart(6)).join(' ')}`,
    ...r.confusion.map((row, i) => `${r.classes[i]!.padEnd(w)}  ${row.map((v) => String(v).padStart(6)).join(' ')}`),
  ];
  return lines.join('\n');
}
