/**
 * The cross-validation report (`cv-report.json`, `cv-report.txt`) and the saved held-out predictions
 * it is computed from (`heldout.json.gz`): what `soundee cv` writes and `soundee train --calibration`
 * reads.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { SoundeeError } from '../config.ts';
import type { CalibrationReport } from './calibration.ts';
import type { CvAnalysis, HeldOutPredictions } from './cv.ts';
import type { FalseAlarmReport } from './false-alarms.ts';

export const CV_REPORT_FORMAT = 'soundee-cv-report';
const HELDOUT_FORMAT = 'soundee-heldout-predictions';

/** The figures the issue's goals are stated in, in one place. */
export interface CvHeadline {
  /** Target-class windows of held-out packages whose top class is right. */
  accuracy: number;
  /** Over the target classes, on target windows (closed set; see TargetFigures). */
  macroF1: number;
  recall: Record<string, number>;
  /** The worst class and its recall. */
  minRecall: { class: string; recall: number };
  /** Expected calibration error of the calibrated held-out probabilities, all classes, `eceBins` bins. */
  ece: number;
  eceBins: number;
  /** Event starts per hour on held-out background clips (cross-fitted thresholds). */
  falseAlarmsPerHour: number | null;
  falseAlarmHours: number | null;
  /** Event starts per hour on the non-target recordings (`--nontarget`), every fold's model. */
  nontargetFalseAlarmsPerHour: number | null;
  nontargetHours: number | null;
}

/** What `soundee cv` records besides the analysis. */
export interface CvRunInfo {
  dataset: string;
  folds: { kind: 'packages' | 'grouped'; count: number; seed: number; packages: string[][] };
  backgroundClasses: string[];
  recipe: Record<string, unknown>;
  /** Wall-clock seconds per fold (0: taken from an earlier run). */
  secondsPerFold: number[];
  backend: string;
}

export interface CvReport {
  format: typeof CV_REPORT_FORMAT;
  version: 1;
  createdAt: string;
  run: CvRunInfo;
  headline: CvHeadline;
  targets: CvAnalysis['targets'];
  allClasses: CvAnalysis['report'];
  backgroundRejection: number | null;
  /** Target accuracy per held-out package (items, share right). */
  perPackage: Record<string, { items: number; accuracy: number }>;
  calibration: {
    method: 'temperature';
    bins: number;
    temperature: number;
    foldTemperatures: number[];
    before: CalibrationReport;
    after: CalibrationReport;
  };
  thresholds: CvAnalysis['thresholds'];
  falseAlarms: { backgroundClips: FalseAlarmReport | null; nontarget: FalseAlarmReport | null };
}

const round = (x: number, d = 4) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x);

/** Assembles the report. */
export function cvReport(run: CvRunInfo, t: HeldOutPredictions, a: CvAnalysis, nontarget: FalseAlarmReport | null): CvReport {
  const recall = a.targets.recall;
  const worst = Object.entries(recall).sort((x, y) => x[1] - y[1])[0] ?? ['', 0];
  const bg = new Set(run.backgroundClasses.map((c) => t.classes.indexOf(c)));
  const perPackage: Record<string, { items: number; accuracy: number }> = {};
  t.items.forEach((it, i) => {
    if (bg.has(it.label)) return;
    const p = a.calibrated[i]!;
    const r = (perPackage[it.package] ??= { items: 0, accuracy: 0 });
    r.items++;
    if (p.indexOf(Math.max(...p)) === it.label) r.accuracy++;
  });
  for (const r of Object.values(perPackage)) r.accuracy = round(r.accuracy / r.items);
  return {
    format: CV_REPORT_FORMAT,
    version: 1,
    createdAt: new Date().toISOString(),
    run,
    headline: {
      accuracy: round(a.targets.accuracy),
      macroF1: round(a.targets.macroF1),
      recall: Object.fromEntries(Object.entries(recall).map(([c, v]) => [c, round(v)])),
      minRecall: { class: worst[0], recall: round(worst[1]) },
      ece: round(a.calibration.after.ece),
      eceBins: a.calibration.bins,
      falseAlarmsPerHour: a.falseAlarms ? round(a.falseAlarms.perHour, 2) : null,
      falseAlarmHours: a.falseAlarms ? round(a.falseAlarms.hours, 2) : null,
      nontargetFalseAlarmsPerHour: nontarget ? round(nontarget.perHour, 2) : null,
      nontargetHours: nontarget ? round(nontarget.hours, 2) : null,
    },
    targets: a.targets,
    allClasses: a.report,
    backgroundRejection: a.backgroundRejection,
    perPackage: Object.fromEntries(Object.entries(perPackage).sort((x, y) => x[1].accuracy - y[1].accuracy)),
    calibration: {
      method: 'temperature',
      bins: a.calibration.bins,
      temperature: round(a.calibration.temperature),
      foldTemperatures: a.calibration.foldTemperatures.map((v) => round(v)),
      before: a.calibration.before,
      after: a.calibration.after,
    },
    thresholds: a.thresholds,
    falseAlarms: { backgroundClips: a.falseAlarms, nontarget },
  };
}

/** The report as readable text. */
export function formatCvReport(r: CvReport): string {
  const h = r.headline;
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const classes = r.allClasses.classes;
  const w = Math.max(10, ...classes.map((c) => c.length));
  const fa = (x: FalseAlarmReport | null, what: string) =>
    x
      ? `${what}: ${x.perHour.toFixed(2)} false alarms per hour (${x.starts} event starts in ${x.hours.toFixed(x.hours < 1 ? 3 : 2)} h, ${x.streams} streams): ${
          Object.entries(x.byClass)
            .filter(([, n]) => n)
            .map(([c, n]) => `${c} ${n}`)
            .join(', ') || 'none'
        }`
      : `${what}: not measured`;
  const lines = [
    `cross-validation by package: ${r.run.folds.count} folds (${r.run.folds.kind === 'packages' ? 'one package per fold' : 'packages grouped, each wholly in one fold'}), ${r.allClasses.n} held-out windows of ${r.run.dataset}`,
    '',
    `target classes (${r.targets.classes.length}), their ${r.targets.n} windows: accuracy ${pct(h.accuracy)}   macro-F1 ${h.macroF1.toFixed(3)}   balanced accuracy ${pct(r.targets.balancedAccuracy)}   worst recall ${h.minRecall.class} ${h.minRecall.recall.toFixed(3)}`,
    `open set (background windows counted as possible false positives): macro-F1 ${r.targets.openSet.macroF1.toFixed(3)}`,
    `calibration: ECE ${h.ece.toFixed(4)} (${h.eceBins} bins) after temperature scaling (T ${r.calibration.temperature.toFixed(3)}; per fold ${r.calibration.foldTemperatures.map((t) => t.toFixed(2)).join(', ')}, each fitted on the other folds), ${r.calibration.before.ece.toFixed(4)} before`,
    r.backgroundRejection === null ? 'no background class' : `background windows called background: ${pct(r.backgroundRejection)}`,
    fa(r.falseAlarms.backgroundClips, 'held-out background clips'),
    fa(r.falseAlarms.nontarget, 'non-target recordings (--nontarget)'),
    '',
    `${'class'.padEnd(w)}  precision  recall     F1  support  open-set precision  event threshold  window recall at it`,
    ...classes.map((c) => {
      const m = r.allClasses.perClass[c]!;
      const p = r.targets.precision[c];
      const f1 = p === undefined ? m.f1 : p + m.recall ? (2 * p * m.recall) / (p + m.recall) : 0;
      const t = r.thresholds.final[c];
      const wr = r.thresholds.windowRecall[c];
      return `${c.padEnd(w)}  ${(p ?? m.precision).toFixed(3).padStart(9)}  ${m.recall.toFixed(3).padStart(6)}  ${f1.toFixed(3).padStart(5)}  ${String(m.support).padStart(7)}  ${m.precision.toFixed(3).padStart(18)}  ${(t === undefined ? '-' : t.toFixed(2)).padStart(15)}  ${(wr === undefined ? '-' : wr.toFixed(3)).padStart(19)}`;
    }),
    '',
    'confusion (rows: true class, columns: predicted)',
    `${''.padEnd(w)}  ${classes.map((c) => c.slice(0, 6).padStart(6)).join(' ')}`,
    ...r.allClasses.confusion.map((row, i) => `${classes[i]!.padEnd(w)}  ${row.map((v) => String(v).padStart(6)).join(' ')}`),
    '',
    'target accuracy per held-out package (worst first):',
    ...Object.entries(r.perPackage).map(([p, v]) => `  ${p.padEnd(32)} ${pct(v.accuracy).padStart(6)} of ${v.items}`),
    '',
    'folds (held-out packages):',
    ...r.run.folds.packages.map((ps, f) => `  ${f + 1}: ${ps.join(', ')}`),
  ];
  return lines.join('\n');
}

/** Reads a report written by `soundee cv`. */
export async function readCvReport(path: string): Promise<CvReport> {
  let r: Partial<CvReport>;
  try {
    r = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new SoundeeError('ERR_DATASET', `${path}: ${(e as Error).message}`);
  }
  if (r.format !== CV_REPORT_FORMAT) throw new SoundeeError('ERR_DATASET', `${path}: not a report of soundee cv (cv-report.json)`);
  return r as CvReport;
}

/**
 * What a cross-validation hands the final model trained with its recipe: the temperature and event
 * thresholds fitted on all held-out predictions, and its figures as the model's evaluation.
 * @throws SoundeeError ERR_DATASET when the report's classes are not the model's.
 */
export function handoverOf(
  r: CvReport,
  path: string,
  classes: readonly string[],
): {
  calibration: { method: 'temperature'; temperature: number; fittedOn: string };
  eventThresholds: Record<string, number>;
  evaluation: Record<string, unknown>;
} {
  if (r.allClasses.classes.join('\n') !== classes.join('\n'))
    throw new SoundeeError(
      'ERR_DATASET',
      `${path}: its classes (${r.allClasses.classes.join(', ')}) are not the dataset's (${classes.join(', ')}); cross-validate the dataset you train on`,
    );
  return {
    calibration: { method: 'temperature', temperature: r.calibration.temperature, fittedOn: path },
    eventThresholds: { ...r.thresholds.final },
    evaluation: {
      crossValidation: {
        report: path,
        folds: `${r.run.folds.count} (${r.run.folds.kind})`,
        ...r.headline,
        note: 'held-out packages: each figure comes from models that never trained on the package judged',
      },
    },
  };
}

/** Saves held-out predictions (gzip JSON). */
export async function writeHeldOut(path: string, t: HeldOutPredictions): Promise<void> {
  const json = JSON.stringify({ format: HELDOUT_FORMAT, ...t, probs: t.probs.map((p) => [...p]) });
  await writeFile(path, await promisify(gzip)(json, { level: 9 }));
}

/** Reads held-out predictions saved by writeHeldOut. */
export async function readHeldOut(path: string): Promise<HeldOutPredictions> {
  let o: HeldOutPredictions & { format?: string; probs: number[][] };
  try {
    o = JSON.parse((await promisify(gunzip)(await readFile(path))).toString('utf8'));
  } catch (e) {
    throw new SoundeeError('ERR_DATASET', `${path}: ${(e as Error).message}`);
  }
  if (o.format !== HELDOUT_FORMAT) throw new SoundeeError('ERR_DATASET', `${path}: not held-out predictions of soundee cv`);
  const { format: _, ...rest } = o;
  return { ...rest, probs: o.probs.map((p) => Float32Array.from(p)) };
}
