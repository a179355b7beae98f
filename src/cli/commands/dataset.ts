/** `soundee dataset build|import-images|info`: labelled clips → a dataset file. */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { DEFAULTS, resolveFeatureConfig } from '../../config.ts';
import { buildAudioDataset, importImageDataset, splitCsv } from '../../data/build.ts';
import { type Dataset, readDataset, writeDataset } from '../../data/dataset-file.ts';
import { SPLITS } from '../../data/split.ts';
import { fail, info, parseNumber, readFeatureFile } from '../common.ts';
import { progressBar } from '../progress.ts';

interface BuildCliOptions {
  out: string;
  manifest?: string;
  seed: number;
  split: [number, number, number];
  onError: 'skip' | 'fail';
  splitCsv?: string;
  features?: string;
  extraTrain?: string[];
}

function parseRatios(v: string): [number, number, number] {
  const parts = v.split(/[:,]/).map(Number);
  if (parts.length !== 3 || parts.some((x) => !Number.isFinite(x) || x < 0) || parts[0]! + parts[1]! + parts[2]! <= 0)
    fail(`--split must be three non-negative numbers like 7:2:1, got "${v}"`, 2);
  return parts as [number, number, number];
}

/** A per-class table of items (and groups) per split, and the packages each class comes from. */
export function describeDataset(ds: Dataset): string {
  const counts = ds.counts();
  const w = Math.max(8, ...ds.classes.map((c) => c.length));
  const groups = (split: string, label: number) =>
    new Set(ds.header.items.filter((it) => it.split === split && it.label === label).map((it) => it.group)).size;
  const packages = ds.classes.map((_, i) => {
    const n = new Map<string, number>();
    for (const it of ds.header.items) if (it.label === i && it.package) n.set(it.package, (n.get(it.package) ?? 0) + 1);
    return [...n].sort((a, b) => b[1] - a[1]);
  });
  const lines = [`${'class'.padEnd(w)}  ${SPLITS.map((s) => `${s} (groups)`.padStart(16)).join('')}  packages`];
  ds.classes.forEach((c, i) => {
    lines.push(
      `${c.padEnd(w)}  ${SPLITS.map((s) => `${counts[s][i]} (${groups(s, i)})`.padStart(16)).join('')}  ${packages[i]!.length || '-'}`,
    );
  });
  const tot = SPLITS.map((s) => counts[s].reduce((a, b) => a + b, 0));
  const allPackages = new Set(ds.header.items.flatMap((it) => (it.package ? [it.package] : [])));
  lines.push(`${'total'.padEnd(w)}  ${tot.map((t) => String(t).padStart(16)).join('')}  ${allPackages.size || '-'}`);
  if (allPackages.size) {
    lines.push('', 'items per package:');
    ds.classes.forEach((c, i) => {
      lines.push(`  ${c.padEnd(w)} ${packages[i]!.map(([p, n]) => `${p} ${n}`).join(', ')}`);
    });
  }
  return lines.join('\n');
}

async function finish(ds: Dataset, o: BuildCliOptions): Promise<void> {
  await writeDataset(o.out, ds);
  if (o.splitCsv) await writeFile(o.splitCsv, splitCsv(ds));
  info(`\n${describeDataset(ds)}`);
  if (ds.header.skipped.length) {
    info(`\nskipped ${ds.header.skipped.length} file(s):`);
    for (const s of ds.header.skipped.slice(0, 20)) info(`  ${s.clip}: ${s.reason}`);
    if (ds.header.skipped.length > 20) info(`  … and ${ds.header.skipped.length - 20} more (listed in the dataset header)`);
  }
  info(`\nwrote ${o.out} (${ds.size} items, ${ds.classes.length} classes)${o.splitCsv ? ` and ${o.splitCsv}` : ''}`);
}

/**
 * Without a manifest every clip is its own group, so windows cut from one recording can land on both
 * sides of the split: the held-out figures then measure memory, not hearing. Say so.
 */
function warnWithoutManifest(dir: string, manifest: string | undefined): void {
  if (manifest !== undefined || existsSync(join(dir, 'manifest.csv'))) return;
  info(
    `soundee: warning: ${dir} has no manifest.csv, so each clip is its own group and the split is clip by clip: clips cut from the same recording can land in both train and test, and the test figures will be too good. Give a manifest (clip,class,group; --manifest FILE) whose group names each original recording.`,
  );
}

function commonBuildOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--out <file>', 'dataset file to write (e.g. data/ambient.sdset)')
    .option(
      '--manifest <csv>',
      'CSV with clip,class,group columns (default: <dir>/manifest.csv if present); group = one original recording',
    )
    .option('--seed <n>', 'seed of the split', parseNumber('--seed', { integer: true, min: 0 }), DEFAULTS.splitSeed)
    .option('--split <a:b:c>', 'train:valid:test proportions (by group, per class)', parseRatios, [0.7, 0.2, 0.1] as [
      number,
      number,
      number,
    ])
    .addOption(new Option('--on-error <policy>', 'bad clips: skip (report and go on) or fail').choices(['skip', 'fail']).default('skip'))
    .option('--split-csv <file>', "also write the split as CSV (clip,window,label,group,split), like the capstone's train.csv");
}

export function datasetCommand(program: Command): void {
  const ds = program.command('dataset').description('build datasets from folders of labelled clips');
  commonBuildOptions(
    ds
      .command('build')
      .description('render every clip through the feature path into a dataset file, split 7:2:1 by group')
      .argument(
        '<dirs...>',
        'folders of clips: class sub-folders (rain/x.wav) or files named like drop-4.wav; several folders are merged (their manifests give each clip its group and package)',
      ),
  )
    .option('--features <file>', 'JSON file of feature settings (default: the built-in defaults)')
    .option(
      '--extra-train <dir...>',
      "folders of more clips of the same classes that go to the train split only (valid/test stay the primary folder's held-out groups)",
    )
    .action(async (dirs: string[], o: BuildCliOptions) => {
      for (const dir of dirs) warnWithoutManifest(dir, dirs.length === 1 ? o.manifest : undefined);
      const features = o.features ? await readFeatureFile(o.features) : resolveFeatureConfig();
      let bar: ReturnType<typeof progressBar> | undefined;
      const dataset = await buildAudioDataset(dirs, {
        features,
        seed: o.seed,
        ratios: o.split,
        onError: o.onError,
        ...(o.manifest ? { manifest: o.manifest } : {}),
        ...(o.extraTrain ? { extraTrain: o.extraTrain } : {}),
        onProgress: (done, total) => {
          bar ??= progressBar('rendering clips', total);
          bar.update(done);
        },
      }).finally(() => bar?.stop());
      await finish(dataset, o);
    });
  commonBuildOptions(
    ds
      .command('import-images')
      .description('import folders of spectrogram images (resized to 32×32 with sharp, all three RGB channels kept)')
      .argument('<dir>', 'folder of images: class sub-folders or files named like drop-4.png'),
  )
    .option('--image-size <n>', 'side of the square images', parseNumber('--image-size', { integer: true, min: 8, max: 256 }), 32)
    .action(async (dir: string, o: BuildCliOptions & { imageSize: number }) => {
      let bar: ReturnType<typeof progressBar> | undefined;
      const dataset = await importImageDataset(dir, {
        imageSize: o.imageSize,
        seed: o.seed,
        ratios: o.split,
        onError: o.onError,
        ...(o.manifest ? { manifest: o.manifest } : {}),
        onProgress: (done, total) => {
          bar ??= progressBar('importing images', total);
          bar.update(done);
        },
      }).finally(() => bar?.stop());
      await finish(dataset, o);
    });
  ds.command('info')
    .description('summarise a dataset file: classes, items and groups per split, feature config')
    .argument('<file>', 'dataset file')
    .option('--json', 'print the header (without the item list) as JSON')
    .action(async (file: string, o: { json?: boolean }) => {
      const d = await readDataset(file);
      if (o.json) {
        const { items, ...rest } = d.header;
        console.log(JSON.stringify({ ...rest, items: items.length, counts: d.counts() }, null, 2));
      } else {
        console.log(`${file}: ${d.header.kind} dataset, ${d.size} items, built ${d.header.createdAt} from ${d.header.source}`);
        console.log(describeDataset(d));
        if (d.header.features) console.log(`features: ${JSON.stringify(d.header.features)}`);
      }
    });
}
