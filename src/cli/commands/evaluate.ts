/** `soundee evaluate` and `soundee predict`. */
import { stat } from 'node:fs/promises';
import { type Command, Option } from 'commander';
import { UNKNOWN_LABEL } from '../../config.ts';
import { readDataset } from '../../data/dataset-file.ts';
import { openEngine } from '../../engine/engine.ts';
import { DEFAULT_EVENT_OPTIONS, isQuiet } from '../../events/tracker.ts';
import { renderFile } from '../../features/clip.ts';
import type { ImageClassifier } from '../../model/classifier.ts';
import { type EvaluationRun, evaluateOnDataset, evaluateOnFolder, probeSilenceShortcut } from '../../training/evaluate.ts';
import { formatReport } from '../../training/metrics.ts';
import { confusionSvg, writeSvg } from '../../training/plots.ts';
import { type ModelCliOptions, engineOptionsOf, fail, info, modelOptions, parseNumber } from '../common.ts';
import { progressBar, type Progress } from '../progress.ts';

/** Adds --silence-db: the level gate of every command. */
function gateOption(cmd: Command): Command {
  return cmd.option(
    '--silence-db <dBFS>',
    `windows quieter than this are "nothing heard" (the level gate of replay and listen): not scored (default ${DEFAULT_EVENT_OPTIONS.silenceDb})`,
    parseNumber('--silence-db', { max: 0 }),
    DEFAULT_EVENT_OPTIONS.silenceDb,
  );
}

/** Opens the model the way every command does (the engine's model), for commands that classify clips, not streams. */
async function openModel(o: ModelCliOptions): Promise<ImageClassifier> {
  return (await openEngine(await engineOptionsOf(o))).model;
}

/** The line that says what the level gate kept out. */
function gatedLine(run: EvaluationRun): string {
  const { windows, clips, silenceDb } = run.gated;
  return `gated: ${windows} window${windows === 1 ? '' : 's'} quieter than ${silenceDb} dBFS not scored${clips ? ` (${clips} clip${clips === 1 ? '' : 's'} entirely)` : ''}`;
}

interface EvaluateCliOptions extends ModelCliOptions {
  split: 'train' | 'valid' | 'test' | 'all';
  json?: boolean;
  confusion?: string;
  probeZeros?: string;
  silenceDb: number;
}

export function evaluateCommand(program: Command): void {
  modelOptions(
    gateOption(
      program
        .command('evaluate')
        .description(
          'accuracy, macro-F1, per-class precision/recall/F1, confusion matrix and the share under the "cannot tell" threshold; windows under the level gate are not scored (and counted)',
        )
        .argument(
          '<data>',
          'a dataset file (its test split by default) or a folder of labelled clips (class sub-folders or name-N.wav; symlinks followed)',
        )
        .addOption(new Option('--split <name>', 'split of a dataset file').choices(['train', 'valid', 'test', 'all']).default('test'))
        .option('--json', 'print one JSON object (accuracy, macroF1, perClass, confusion, classes, gated, …)')
        .option('--confusion <file.png>', 'also draw the confusion matrix (PNG, or SVG by extension)')
        .option(
          '--probe-zeros <class>',
          "dataset files: also probe the digital-silence shortcut (zero the last 250 ms of other classes' clips; how often do they become <class>?)",
        ),
    ),
  ).action(evaluate);
}

async function evaluate(data: string, o: EvaluateCliOptions): Promise<void> {
  const cls = await openModel(o);
  let bar: Progress | undefined;
  const onProgress = (d: number, t: number) => {
    bar ??= progressBar('rendering', t);
    bar.update(d);
  };
  try {
    const isDir = (await stat(data).catch(() => undefined))?.isDirectory();
    const ds = isDir ? undefined : await readDataset(data);
    const options = { onProgress, silenceDb: o.silenceDb };
    const run = ds ? await evaluateOnDataset(cls, ds, o.split, options) : await evaluateOnFolder(cls, data, options);
    bar?.stop();
    if (o.probeZeros && !ds) fail('--probe-zeros needs a dataset file (it uses the stored audio)', 2);
    const probe =
      o.probeZeros && ds
        ? await probeSilenceShortcut(cls, ds, { split: o.split === 'all' ? 'test' : o.split, target: o.probeZeros })
        : undefined;
    if (o.confusion)
      await writeSvg(
        o.confusion,
        confusionSvg(
          run.report.classes,
          run.report.confusion,
          `${cls.name} on ${data}: accuracy ${(100 * run.report.accuracy).toFixed(1)}%`,
        ),
      );
    if (o.json) {
      const extra = probe ? { silenceProbe: probe } : {};
      console.log(
        JSON.stringify({ model: o.model, data, source: run.source, ...run.report, skipped: run.skipped, gated: run.gated, ...extra }),
      );
      return;
    }
    console.log(`${cls.name} (${cls.architecture}) on ${run.source}`);
    console.log(formatReport(run.report));
    console.log(gatedLine(run));
    if (probe)
      console.log(
        `\nshortcut probe (${probe.n} non-${probe.target} items): called ${probe.target} ${(100 * probe.before).toFixed(1)}% as recorded, ${(100 * probe.afterZeros).toFixed(1)}% with the last ${probe.tailMillis} ms zeroed, ${(100 * probe.afterQuietNoise).toFixed(1)}% with a -60 dBFS noise tail`,
      );
    if (run.skipped.length) console.log(`\nskipped ${run.skipped.length}: ${run.skipped.map((s) => `${s.clip} (${s.reason})`).join('; ')}`);
  } finally {
    bar?.stop();
    cls.dispose();
  }
}

/** One file's verdict: the mean of its loud windows' probabilities, or quiet when every window is under the level gate. */
interface FileVerdict {
  windows: number;
  gated: number;
  /** Mean probabilities over the windows above the gate (undefined when all are gated). */
  mean?: Float32Array;
  padded: boolean;
}

/** Streams a file through the feature path (pad rule included) and averages the probabilities of its windows above the level gate. */
async function judgeFile(cls: ImageClassifier, file: string, silenceDb: number): Promise<FileVerdict> {
  const sum = new Float64Array(cls.classes.length);
  let windows = 0;
  let loud = 0;
  let padded = false;
  for await (const batch of renderFile(file, cls.features)) {
    const results = cls.classify(batch.images);
    padded ||= batch.padded;
    batch.windows.forEach((w, i) => {
      windows++;
      if (isQuiet(w, silenceDb)) return;
      loud++;
      results[i]!.probabilities.forEach((p, k) => {
        sum[k]! += p;
      });
    });
  }
  const verdict: FileVerdict = { windows, gated: windows - loud, padded };
  if (loud) verdict.mean = Float32Array.from(sum, (v) => v / loud);
  return verdict;
}

export function predictCommand(program: Command): void {
  modelOptions(
    gateOption(
      program
        .command('predict')
        .description(
          'one label per file: the mean of its windows\' probabilities (windows under the level gate left out; all of them: quiet); "cannot tell" under the threshold, "none of its classes" when a background class is on top',
        )
        .argument('<files...>', 'WAV files (any length: read as a stream)')
        .option('--json', 'print one JSON object per file'),
    ),
  ).action(async (files: string[], o: ModelCliOptions & { json?: boolean; silenceDb: number }) => {
    const cls = await openModel(o);
    let failed = 0;
    try {
      for (const file of files) {
        try {
          printVerdict(cls, file, await judgeFile(cls, file, o.silenceDb), o);
        } catch (e) {
          failed++;
          if (o.json) console.log(JSON.stringify({ file, error: (e as Error).message }));
          else info(`soundee: ${(e as Error).message}`);
        }
      }
    } finally {
      cls.dispose();
    }
    if (failed) process.exitCode = 1;
  });
}

function printVerdict(cls: ImageClassifier, file: string, v: FileVerdict, o: { json?: boolean; silenceDb: number }): void {
  const round4 = (x: number) => Math.round(x * 1e4) / 1e4;
  if (!v.mean) {
    if (o.json) console.log(JSON.stringify({ file, label: UNKNOWN_LABEL, quiet: true, windows: v.windows, gatedWindows: v.gated }));
    else console.log(`${file}: quiet (every window under ${o.silenceDb} dBFS: nothing heard)`);
    return;
  }
  const r = cls.label(v.mean);
  const scores = Object.fromEntries(cls.classes.map((name, i) => [name, round4(v.mean![i]!)]));
  if (o.json) {
    console.log(
      JSON.stringify({ file, label: r.label, confidence: round4(r.confidence), windows: v.windows, gatedWindows: v.gated, scores }),
    );
    return;
  }
  const top = cls.classes[v.mean.indexOf(Math.max(...v.mean))]!;
  const label =
    r.label !== UNKNOWN_LABEL
      ? r.label
      : cls.backgroundClasses.includes(top)
        ? `none of its classes (${top})`
        : `cannot tell (maybe ${top})`;
  const notes = [v.padded ? 'shorter than a window; padded' : '', v.gated ? `${v.gated} quiet window(s) left out` : '']
    .filter(Boolean)
    .join('; ');
  console.log(`${file}: ${label} ${r.confidence.toFixed(2)}${notes ? ` (${notes})` : ''}`);
}
