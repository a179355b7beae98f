/** `soundee evaluate` and `soundee predict`. */
import { stat } from 'node:fs/promises';
import { type Command, Option } from 'commander';
import { UNKNOWN_LABEL, windowSamples } from '../../config.ts';
import { loadAudio } from '../../audio/wav.ts';
import { readDataset } from '../../data/dataset-file.ts';
import { frameSignal } from '../../features/framer.ts';
import { renderWindowImages, toUnitFloat } from '../../features/render.ts';
import { evaluateOnDataset, evaluateOnFolder, probeSilenceShortcut } from '../../training/evaluate.ts';
import { formatReport } from '../../training/metrics.ts';
import { confusionSvg, writeSvg } from '../../training/plots.ts';
import { type ModelCliOptions, fail, info, modelOptions, openClassifier } from '../common.ts';
import { progressBar, type Progress } from '../progress.ts';

export function evaluateCommand(program: Command): void {
  modelOptions(
    program
      .command('evaluate')
      .description('accuracy, macro-F1, per-class precision/recall/F1, confusion matrix and the share under the "cannot tell" threshold')
      .argument('<data>', 'a dataset file (its test split by default) or a folder of labelled clips (class sub-folders or name-N.wav)')
      .addOption(new Option('--split <name>', 'split of a dataset file').choices(['train', 'valid', 'test', 'all']).default('test'))
      .option('--json', 'print one JSON object (accuracy, macroF1, perClass, confusion, classes, …)')
      .option('--confusion <file.png>', 'also draw the confusion matrix (PNG, or SVG by extension)')
      .option(
        '--probe-zeros <class>',
        "dataset files: also probe the digital-silence shortcut (zero the last 250 ms of other classes' clips; how often do they become <class>?)",
      ),
  ).action(
    async (
      data: string,
      o: ModelCliOptions & { split: 'train' | 'valid' | 'test' | 'all'; json?: boolean; confusion?: string; probeZeros?: string },
    ) => {
      const cls = await openClassifier(o);
      let bar: Progress | undefined;
      const onProgress = (d: number, t: number) => {
        bar ??= progressBar('rendering', t);
        bar.update(d);
      };
      try {
        const isDir = (await stat(data).catch(() => undefined))?.isDirectory();
        const ds = isDir ? undefined : await readDataset(data);
        const run = ds ? await evaluateOnDataset(cls, ds, o.split, onProgress) : await evaluateOnFolder(cls, data, onProgress);
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
        if (o.json)
          console.log(
            JSON.stringify({
              model: o.model,
              data,
              source: run.source,
              ...run.report,
              skipped: run.skipped,
              ...(probe ? { silenceProbe: probe } : {}),
            }),
          );
        else {
          console.log(`${cls.name} (${cls.architecture}) on ${run.source}`);
          console.log(formatReport(run.report));
          if (probe)
            console.log(
              `\nshortcut probe (${probe.n} non-${probe.target} items): called ${probe.target} ${(100 * probe.before).toFixed(1)}% as recorded, ${(100 * probe.afterZeros).toFixed(1)}% with the last ${probe.tailMillis} ms zeroed, ${(100 * probe.afterQuietNoise).toFixed(1)}% with a -60 dBFS noise tail`,
            );
          if (run.skipped.length)
            console.log(`\nskipped ${run.skipped.length}: ${run.skipped.map((s) => `${s.clip} (${s.reason})`).join('; ')}`);
        }
      } finally {
        bar?.stop();
        cls.dispose();
      }
    },
  );
}

export function predictCommand(program: Command): void {
  modelOptions(
    program
      .command('predict')
      .description('one label per file: the mean of its windows\' probabilities, or "cannot tell" under the threshold')
      .argument('<files...>', 'WAV files')
      .option('--json', 'print one JSON object per file'),
  ).action(async (files: string[], o: ModelCliOptions & { json?: boolean }) => {
    const cls = await openClassifier(o);
    const c = cls.features;
    let failed = 0;
    try {
      for (const file of files) {
        try {
          let x = await loadAudio(file, c.sampleRateHz);
          const short = x.length < windowSamples(c);
          if (short) {
            const p = new Float32Array(windowSamples(c));
            p.set(x);
            x = p;
          }
          const windows = frameSignal(x, c);
          const results = cls.classify((await renderWindowImages(windows, c)).map(toUnitFloat));
          const mean = new Float32Array(cls.classes.length);
          for (const r of results)
            r.probabilities.forEach((p, i) => {
              mean[i]! += p / results.length;
            });
          const r = cls.label(mean);
          const scores = Object.fromEntries(cls.classes.map((name, i) => [name, Math.round(mean[i]! * 1e4) / 1e4]));
          if (o.json)
            console.log(
              JSON.stringify({ file, label: r.label, confidence: Math.round(r.confidence * 1e4) / 1e4, windows: windows.length, scores }),
            );
          else {
            const top = cls.classes[mean.indexOf(Math.max(...mean))]!;
            const label = r.label === UNKNOWN_LABEL ? `cannot tell (maybe ${top})` : r.label;
            console.log(`${file}: ${label} ${r.confidence.toFixed(2)}${short ? ' (shorter than a window; padded)' : ''}`);
          }
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
