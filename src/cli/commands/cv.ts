/**
 * `soundee cv`: cross-validation by package — the honest figure of a training recipe on recordings
 * from sources it never heard, calibration and event thresholds fitted on held-out packages, and
 * false alarms per hour, in one command.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { type Dataset, readDataset } from '../../data/dataset-file.ts';
import { type BackendChoice, initBackend } from '../../model/backend.ts';
import { Classifier } from '../../model/classifier.ts';
import { loadModel, saveModel, updateMetadata } from '../../model/io.ts';
import {
  type CvAnalysis,
  type HeldOutPredictions,
  analyseHeldOut,
  crossValidate,
  heldOutPredictions,
  poolFalseAlarms,
} from '../../training/cv.ts';
import { type CvReport, type CvRunInfo, cvReport, formatCvReport, writeHeldOut } from '../../training/cv-report.ts';
import { type FalseAlarmReport, falseAlarmsOnFiles, listWavFiles } from '../../training/false-alarms.ts';
import { type FoldPlan, packageFolds } from '../../training/folds.ts';
import { confusionSvg, reliabilitySvg, writeSvg } from '../../training/plots.ts';
import { backendOption, fail, info, parseNumber } from '../common.ts';
import { eventSettingsFor } from '../event-options.ts';
import { progressBar } from '../progress.ts';
import {
  type RecipeCliOptions,
  backgroundClassesOf,
  epochProgress,
  fmtTime,
  recipeOf,
  recipeOptions,
  recipeRecord,
} from '../train-options.ts';

interface CvCliOptions extends RecipeCliOptions {
  out: string;
  folds: number | 'packages';
  foldSeed: number;
  nontarget?: string[];
  faPerHour: number;
  bins: number;
  resume?: boolean;
  backend?: BackendChoice;
}

function parseFolds(v: string): number | 'packages' {
  if (v === 'packages') return 'packages';
  return parseNumber('--folds', { integer: true, min: 2 })(v);
}

/** What a fold's saved held-out predictions must match to be reused by --resume. */
interface FoldRecord {
  packages: string[];
  recipe: unknown;
  items: number[];
  probs: number[][];
}

export function cvCommand(program: Command): void {
  cvOptions(program.command('cv')).action(runCv);
}

/** The recipe options and cv's own: folds, non-target recordings, threshold search, bins, resume. */
function cvOptions(cmd: Command): Command {
  return backendOption(
    recipeOptions(
      cmd
        .description(
          'cross-validate a training recipe by package: train one model per fold of packages, predict the held-out packages, and report accuracy, per-class precision/recall/F1, macro-F1, the confusion matrix, calibration (ECE, reliability diagram; temperature and event thresholds cross-fitted on held-out packages) and false alarms per hour',
        )
        .argument(
          '<dataset>',
          'dataset file whose items carry their package (soundee dataset build on folders with a manifest package column)',
        )
        .requiredOption('--out <dir>', 'folder for the report, plots, held-out predictions and the fold models')
        .option(
          '--folds <n|packages>',
          'number of folds, packages grouped so that every package is wholly in one (balanced per class); "packages" = one fold per package (leave-one-package-out)',
          parseFolds,
          5,
        )
        .option('--fold-seed <n>', 'seed of the assignment of packages to folds', parseNumber('--fold-seed', { integer: true, min: 0 }), 1),
      { epochs: 12 },
    )
      .option(
        '--nontarget <dirs...>',
        'folders of recordings with none of the classes in them (packages not in the dataset): every fold model replays them as `soundee replay` does and their event starts are counted as false alarms',
      )
      .option(
        '--fa-per-hour <x>',
        'false alarms per hour (all classes together) allowed when choosing each class event threshold on held-out background clips',
        parseNumber('--fa-per-hour', { min: 0 }),
        1,
      )
      .option('--bins <n>', 'bins of the expected calibration error', parseNumber('--bins', { integer: true, min: 2, max: 100 }), 15)
      .option('--resume', 'reuse the folds an earlier run with the same recipe and folds finished (their predictions in --out)'),
    'training',
  );
}

async function runCv(data: string, o: CvCliOptions): Promise<void> {
  // the folds train on TensorFlow.js: auto skips onnx, and --backend onnx is refused
  const backend = await initBackend(o.backend, undefined, { purpose: 'training' });
  const ds = await readDataset(data);
  if (!ds.header.features) fail(`${data} holds imported images: cross-validation needs an audio dataset`, 2);
  const backgroundClasses = backgroundClassesOf(o, ds.classes);
  const recipe = recipeOf(o, backgroundClasses);
  const record = recipeRecord(o, backgroundClasses);
  const nontargetFiles = o.nontarget ? await listWavFiles(o.nontarget) : [];
  const plan = packageFolds(ds, o.folds, o.foldSeed);
  const k = plan.packages.length;
  await mkdir(join(o.out, 'folds'), { recursive: true });
  const perFold = plan.packages.map((_, f) => plan.foldOf.filter((g) => g === f).length);
  info(
    `soundee: cross-validating ${o.arch} on ${data}: ${ds.size} items, ${new Set(ds.header.items.map((it) => it.package)).size} packages in ${k} folds (${plan.kind === 'packages' ? 'one package each' : 'packages grouped'}), ${o.epochs} epochs per fold${backgroundClasses.length ? `; background: ${backgroundClasses.join(', ')}` : ''}`,
  );
  plan.packages.forEach((ps, f) => {
    info(`  fold ${f + 1}: ${perFold[f]} items from ${ps.join(', ')}`);
  });
  const started = performance.now();
  const foldDir = (f: number) => join(o.out, 'folds', String(f + 1));
  const cv = await trainFolds(ds, { data, plan, recipe, record, backgroundClasses, foldDir }, o);

  const heldOut = heldOutPredictions(ds, cv);
  const analysis = analyseHeldOut(heldOut, { backgroundClasses, bins: o.bins, falseAlarmsPerHour: o.faPerHour });
  const nontarget = nontargetFiles.length
    ? await nontargetFalseAlarms(nontargetFiles, analysis, { k, foldDir, classes: ds.classes, backgroundClasses })
    : null;
  const run: CvRunInfo = {
    dataset: data,
    folds: { kind: plan.kind, count: k, seed: o.foldSeed, packages: plan.packages },
    backgroundClasses,
    recipe: record,
    secondsPerFold: cv.seconds.map((s) => Math.round(s)),
    backend,
  };
  const report = cvReport(run, heldOut, analysis, nontarget);
  await writeCvOutputs(o.out, report, heldOut);
  console.log(formatCvReport(report));
  info(
    `\nsoundee: wrote ${join(o.out, 'cv-report.json')}, cv-report.txt, heldout.json.gz, confusion.png, reliability.png (${fmtTime((performance.now() - started) / 1000)}); train the final model with: soundee train --data ${data} --no-validation --calibration ${join(o.out, 'cv-report.json')} [the same recipe options]`,
  );
}

/** What trainFolds needs besides the options. */
interface FoldRun {
  data: string;
  plan: FoldPlan;
  recipe: ReturnType<typeof recipeOf>;
  record: Record<string, unknown>;
  backgroundClasses: string[];
  foldDir: (f: number) => string;
}

/** Trains one model per fold (reusing finished ones with --resume), saving each with its held-out predictions. */
async function trainFolds(ds: Dataset, r: FoldRun, o: CvCliOptions): Promise<Awaited<ReturnType<typeof crossValidate>>> {
  const { data, plan, recipe, record, backgroundClasses, foldDir } = r;
  const k = plan.packages.length;
  const started = performance.now();
  let stopRequested = false;
  const onSigint = () => {
    if (stopRequested) process.exit(130);
    stopRequested = true;
    info('\nsoundee: stopping after this batch (finished folds are kept: run again with --resume)');
  };
  process.on('SIGINT', onSigint);
  let trained = 0;
  let progress: ReturnType<typeof epochProgress> | undefined;
  let cv: Awaited<ReturnType<typeof crossValidate>>;
  try {
    cv = await crossValidate(ds, {
      plan,
      train: {
        ...recipe,
        patience: 0,
        shouldStop: () => stopRequested,
        onEpochStart: (p) => progress?.onEpochStart?.(p),
        onBatch: (p) => progress?.onBatch?.(p),
        onEpoch: (l) => progress?.onEpoch?.(l),
      },
      cached: async (f) => {
        if (!o.resume) return undefined;
        try {
          const r = JSON.parse(await readFile(join(foldDir(f), 'heldout.json'), 'utf8')) as FoldRecord;
          if (JSON.stringify(r.packages) !== JSON.stringify(plan.packages[f]) || JSON.stringify(r.recipe) !== JSON.stringify(record))
            return undefined;
          info(`soundee: fold ${f + 1}/${k}: reusing ${foldDir(f)}`);
          return r.probs.map((p) => Float32Array.from(p));
        } catch {
          return undefined;
        }
      },
      onFoldStart: (f, _k, held) => {
        const elapsed = (performance.now() - started) / 1000;
        const eta = trained ? ` | ETA ≤ ${fmtTime((elapsed / trained) * (k - f))}` : '';
        info(`soundee: fold ${f + 1}/${k}: holding out ${held.join(', ')}${eta}`);
        progress = epochProgress(o.epochs, `fold ${f + 1}/${k} `);
      },
      onFoldDone: async (f, model, heldOut, probs) => {
        progress?.stop();
        trained++;
        await saveModel(model, foldDir(f), {
          name: `cv-fold-${f + 1}`,
          architecture: o.arch,
          classes: ds.classes,
          ...(backgroundClasses.length ? { backgroundClasses } : {}),
          features: ds.header.features!,
          confidenceThreshold: 0.4,
          training: { dataset: data, heldOutPackages: plan.packages[f], options: record },
        });
        const rec: FoldRecord = { packages: plan.packages[f]!, recipe: record, items: heldOut, probs: probs.map((p) => [...p]) };
        await writeFile(join(foldDir(f), 'heldout.json'), JSON.stringify(rec));
      },
    });
  } finally {
    progress?.stop();
    process.off('SIGINT', onSigint);
  }

  return cv;
}

/**
 * False alarms on recordings no fold trained on: every fold's model, with the temperature and
 * thresholds fitted without its own fold, replays them as `soundee replay` does; the counts are pooled.
 */
async function nontargetFalseAlarms(
  nontargetFiles: readonly string[],
  analysis: CvAnalysis,
  r: { k: number; foldDir: (f: number) => string; classes: readonly string[]; backgroundClasses: readonly string[] },
): Promise<FalseAlarmReport> {
  const { k, foldDir, classes, backgroundClasses } = r;
  const parts: FalseAlarmReport[] = [];
  for (let f = 0; f < k; f++) {
    await updateMetadata(foldDir(f), {
      calibration: { method: 'temperature', temperature: analysis.calibration.foldTemperatures[f]!, fittedOn: 'the other folds' },
      eventThresholds: analysis.thresholds.perFold[f]!,
    });
    const cls = new Classifier(await loadModel(foldDir(f)));
    const bar = progressBar(`fold ${f + 1}/${k} non-target recordings`, nontargetFiles.length);
    try {
      const { options } = eventSettingsFor({}, cls);
      parts.push(await falseAlarmsOnFiles(cls, nontargetFiles, options, (d) => bar.update(d)));
    } finally {
      bar.stop();
      cls.dispose();
    }
  }
  return poolFalseAlarms(
    parts,
    classes.filter((c) => !backgroundClasses.includes(c)),
  );
}

/** Writes the report (JSON and text), the held-out predictions and the plots. */
async function writeCvOutputs(out: string, report: CvReport, heldOut: HeldOutPredictions): Promise<void> {
  const k = report.run.folds.count;
  await writeFile(join(out, 'cv-report.json'), `${JSON.stringify(report, null, 1)}\n`);
  await writeFile(join(out, 'cv-report.txt'), `${formatCvReport(report)}\n`);
  await writeHeldOut(join(out, 'heldout.json.gz'), heldOut);
  await writeSvg(
    join(out, 'confusion.png'),
    confusionSvg(
      report.allClasses.classes,
      report.allClasses.confusion,
      `held-out packages (${k} folds): accuracy ${(100 * report.headline.accuracy).toFixed(1)}%, macro-F1 ${report.headline.macroF1.toFixed(3)}`,
    ),
  );
  await writeSvg(
    join(out, 'reliability.png'),
    reliabilitySvg(
      [
        { name: 'as trained', ...report.calibration.before },
        { name: 'temperature-scaled (cross-fitted)', ...report.calibration.after },
      ],
      `reliability on held-out packages (${report.calibration.bins} bins)`,
    ),
  );
}
