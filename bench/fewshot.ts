/**
 * The few-shot benchmark: `npx tsx bench/fewshot.ts [data/household] [--model DIR] [--ambient DIR]`
 * (also `npm run bench -- --only fewshot`). For each household sound type and k = 1, 3, 5, 10, several
 * random draws: learn the type from k recordings, test on the type's OTHER recordings (never a window
 * of a learned recording), each played inside held-out background audio through the real event layer;
 * count the new class's event starts on non-target audio (background recordings and the ambient set's
 * test split) per hour; measure the original classes' accuracy on the ambient test split before and
 * after. Prints a table, writes JSON (--out) and a plot of recall against k (--plot).
 *
 * Data: `npm run data -- household data/household` (allowed Debian packages only) and the ambient set.
 *
 * Options: --draws N (5), --k LIST (1,3,5,10), --variants NAMES (all of VARIANTS), --event-threshold
 * LIST, --negative-weight LIST, --l2 LIST (sweeps; defaults: DEFAULT_LEARN and the learned class's event
 * settings), --min-duration MS, --augmentations N, --pitch P (pitch shifts in the augmented copies), --snr-db DB (20: background under the test clips),
 * --head-only (fit on the head's own features), --bank-source model|data (the model directory's bank
 * when it fits the trunk, else one built from data/household/bank and the ambient train split),
 * --loo (soundee learn's leave-one-out check on every draw, beside the recall it is to predict),
 * --bank-max N, --cache FILE (embeddings kept between runs), --out FILE.json, --plot FILE.png.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { parseArgs } from 'node:util';
import { resolveFeatureConfig } from '../src/config.ts';
import { EventTracker } from '../src/events/tracker.ts';
import { initBackend } from '../src/model/backend.ts';
import { loadModel } from '../src/model/io.ts';
import { quantizeBank, readBank } from '../src/learn/bank.ts';
import { Embedder, trunkFingerprint } from '../src/learn/embed.ts';
import { rowOffsets } from '../src/learn/head.ts';
import { LEARN_DEFAULTS } from '../src/learn/model-dir.ts';
import {
  DEFAULT_LEARN,
  type EmbeddedWindows,
  type LearnSettings,
  concatWindows,
  fitClass,
  leaveOneOut,
  pickWindows,
  probabilityOf,
  spreadIndices,
} from '../src/learn/learn.ts';
import { Random } from '../src/util/random.ts';
import { type BenchClip, type BenchData, type EmbeddedStream, prepareBench } from './fewshot-data.ts';
import { recallPlotSvg } from './fewshot-plot.ts';
import { table, uptime } from './lib.ts';
import { writeSvg } from '../src/training/plots.ts';

/** A way of learning, compared side by side. */
export interface Variant {
  name: string;
  settings: LearnSettings;
  /** Use the augmented copies of the example windows. */
  augmented: boolean;
  negatives: 'bank' | 'noise';
}

export const VARIANTS: readonly Variant[] = [
  { name: 'imprint', settings: { ...DEFAULT_LEARN, method: 'imprint' }, augmented: false, negatives: 'bank' },
  { name: 'logistic', settings: DEFAULT_LEARN, augmented: false, negatives: 'bank' },
  { name: 'logistic+aug', settings: DEFAULT_LEARN, augmented: true, negatives: 'bank' },
  { name: 'logistic+aug, no bank', settings: DEFAULT_LEARN, augmented: true, negatives: 'noise' },
];

/** Event settings of a learned class in the benchmark (what `soundee learn` writes for it). */
export interface ClassEvents {
  threshold: number;
  minDurationMs: number;
}

/** Event starts of the new class on one stream. */
function eventStarts(s: EmbeddedStream, p: Float32Array, ev: ClassEvents): number[] {
  const t = new EventTracker(s.id, ['new'], { perClass: { new: ev }, smoothWindows: 4, silenceDb: -60 });
  const starts: number[] = [];
  for (let i = 0; i < s.count; i++)
    for (const e of t.push({
      streamId: s.id,
      startMs: s.startMs[i]!,
      endMs: s.startMs[i]! + 1000,
      scores: { new: p[i]! },
      rmsDb: s.rmsDb[i]!,
    }))
      if (e.phase === 'start') starts.push(e.startMs);
  return starts;
}

/** One draw's figures. */
interface DrawResult {
  recall: number;
  /** Share of the test clips' own sound windows (as recorded) where the new class is on top. */
  windowRecall: number;
  falseAlarms: number;
  /** False alarms per source package (stream ids start with it). */
  bySource: Record<string, number>;
  accuracyAfter: number;
  /** soundee learn's leave-one-out check: share of the learned takes recognised when learned without them (--loo). */
  heldOutTakes?: number;
}

function evaluateDraw(
  data: BenchData,
  embedder: Embedder,
  fit: { w: Float32Array; b: number },
  test: BenchClip[],
  ev: ClassEvents,
): DrawResult {
  let hit = 0;
  let win = 0;
  let winTotal = 0;
  for (const c of test) {
    const p = probabilityOf(embedder, fit, c.stream);
    if (eventStarts(c.stream, p, ev).some((t) => t >= c.clipStartMs - 1000 && t <= c.clipEndMs)) hit++;
    win += onTop(embedder, fit, c.recorded);
    winTotal += c.recorded.count;
  }
  let falseAlarms = 0;
  const bySource: Record<string, number> = {};
  for (const s of data.nonTarget) {
    const n = eventStarts(s, probabilityOf(embedder, fit, s), ev).length;
    falseAlarms += n;
    const source = s.id.split(':')[0]!;
    bySource[source] = (bySource[source] ?? 0) + n;
  }
  const a = data.ambientTest;
  const u = logitOf(embedder, fit, a.windows);
  let right = 0;
  for (let i = 0; i < a.labels.length; i++) if (a.argmax[i] === a.labels[i] && !(u[i]! > a.maxLogit[i]!)) right++;
  return {
    recall: hit / test.length,
    windowRecall: winTotal ? win / winTotal : 0,
    falseAlarms,
    bySource,
    accuracyAfter: right / a.labels.length,
  };
}

/** The new class's logit, divided by the temperature like the original ones. */
function logitOf(embedder: Embedder, fit: { w: Float32Array; b: number }, x: EmbeddedWindows): Float32Array {
  const d = embedder.dims;
  const t = embedder.temperature;
  return Float32Array.from({ length: x.count }, (_, i) => {
    let u = fit.b;
    for (let j = 0; j < d; j++) u += fit.w[j]! * x.emb[i * d + j]!;
    return u / t;
  });
}

/** Windows where the new class is the top class (its logit exceeds every original one). */
function onTop(embedder: Embedder, fit: { w: Float32Array; b: number }, x: EmbeddedWindows): number {
  const u = logitOf(embedder, fit, x);
  const z = embedder.logits(x.emb);
  const k = embedder.head.classes;
  let n = 0;
  for (let i = 0; i < x.count; i++) if (u[i]! > Math.max(...z.subarray(i * k, (i + 1) * k))) n++;
  return n;
}

/** Summary of the draws of one type, k and variant. */
export interface Cell {
  type: string;
  k: number;
  variant: string;
  draws: number;
  testClips: number;
  recall: number;
  windowRecall: number;
  falseAlarmsPerHour: number;
  /** Mean false alarms per draw, per source of non-target audio. */
  falseAlarmsBySource: Record<string, number>;
  accuracyLossPoints: number;
  /** Mean over draws of the leave-one-out check's share of takes recognised (--loo). */
  heldOutTakes?: number;
}

function drawsFor(
  data: BenchData,
  embedder: Embedder,
  type: string,
  k: number,
  v: Variant,
  ev: ClassEvents,
  draws: number,
  accuracyBefore: number,
  loo = false,
): Cell | undefined {
  const clips = data.clips.filter((c) => c.type === type);
  const groups = [...new Set(clips.map((c) => c.group))];
  if (groups.length < k + 1) return undefined;
  const rng = new Random(1000 + k);
  const negatives = v.negatives === 'bank' ? concatWindows(embedder.dims, data.bank, data.noise) : data.noise;
  const results: DrawResult[] = [];
  const nonTargetHours = data.nonTarget.reduce((a, s) => a + s.durationMs, 0) / 3.6e6;
  let testClips = 0;
  for (let d = 0; d < draws; d++) {
    const order = rng.shuffle([...groups]);
    const learnGroups = new Set(order.slice(0, k));
    // one clip of each learned recording (a recording may hold several takes: workrave's bells)
    const learn = [...learnGroups].map((g) => {
      const of = clips.filter((c) => c.group === g);
      return of[rng.int(of.length)]!;
    });
    const test = clips.filter((c) => !learnGroups.has(c.group));
    testClips += test.length;
    const positives = concatWindows(embedder.dims, ...learn.flatMap((c) => (v.augmented ? [c.recorded, c.augmented] : [c.recorded])));
    const fit = fitClass(embedder, positives, negatives, v.settings);
    const result = evaluateDraw(data, embedder, fit, test, ev);
    if (loo && v.augmented && k >= 2) {
      // soundee learn's leave-one-out check on the same draw (its order: every take as recorded, then every take's copies)
      const copies = learn[0]!.augmented.count / Math.max(1, learn[0]!.recorded.count);
      const ordered = concatWindows(embedder.dims, ...learn.map((c) => c.recorded), ...learn.map((c) => c.augmented));
      const t = leaveOneOut(
        embedder,
        ordered,
        learn.map((c) => c.recorded.count),
        copies,
        negatives,
        v.settings,
      );
      result.heldOutTakes = t.of ? t.recognised / t.of : 0;
    }
    results.push(result);
  }
  const mean = (f: (r: DrawResult) => number) => results.reduce((a, r) => a + f(r), 0) / results.length;
  return {
    type,
    k,
    variant: v.name,
    draws,
    testClips: testClips / draws,
    recall: mean((r) => r.recall),
    windowRecall: mean((r) => r.windowRecall),
    falseAlarmsPerHour: mean((r) => r.falseAlarms) / nonTargetHours,
    falseAlarmsBySource: Object.fromEntries(Object.keys(results[0]!.bySource).map((k) => [k, mean((r) => r.bySource[k] ?? 0)])),
    accuracyLossPoints: 100 * (accuracyBefore - mean((r) => r.accuracyAfter)),
    ...(results.some((r) => r.heldOutTakes !== undefined) ? { heldOutTakes: mean((r) => r.heldOutTakes ?? 0) } : {}),
  };
}

/** At most `max` windows, spread evenly over the set (a smaller bank, as a model directory might ship). */
function subsample(x: EmbeddedWindows, dims: number, max: number): EmbeddedWindows {
  return x.count <= max ? x : pickWindows(dims, x, spreadIndices(x.count, max));
}

/** Means over types per k: recall, false alarms per hour, accuracy lost. */
function summarize(cells: readonly Cell[]): string {
  const ks = [...new Set(cells.map((c) => c.k))].sort((a, b) => a - b);
  return ks
    .map((k) => {
      const of = cells.filter((c) => c.k === k);
      const m = (f: (c: Cell) => number) => of.reduce((a, c) => a + f(c), 0) / of.length;
      return `k=${k} (${of.length} types) recall ${m((c) => c.recall).toFixed(2)} FA/h ${m((c) => c.falseAlarmsPerHour).toFixed(1)} lost ${m((c) => c.accuracyLossPoints).toFixed(2)}`;
    })
    .join(' | ');
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      model: { type: 'string', default: 'models/default' },
      ambient: { type: 'string', default: '../shared/datasets/ambient' },
      draws: { type: 'string', default: '5' },
      k: { type: 'string', default: '1,3,5,10' },
      variants: { type: 'string' },
      'event-threshold': { type: 'string', default: String(LEARN_DEFAULTS.eventThreshold) },
      'negative-weight': { type: 'string', default: String(DEFAULT_LEARN.negativeWeight) },
      l2: { type: 'string', default: String(DEFAULT_LEARN.l2) },
      'min-duration': { type: 'string', default: String(LEARN_DEFAULTS.minDurationMs) },
      augmentations: { type: 'string', default: String(DEFAULT_LEARN.augmentations) },
      pitch: { type: 'string', default: '0' },
      loo: { type: 'boolean', default: false },
      'snr-db': { type: 'string', default: '20' },
      'head-only': { type: 'boolean', default: false },
      cache: { type: 'string' },
      'bank-source': { type: 'string', default: 'model' },
      'bank-max': { type: 'string' },
      out: { type: 'string' },
      plot: { type: 'string' },
    },
  });
  const household = positionals[0] ?? 'data/household';
  const started = performance.now();
  const before = uptime();
  await initBackend('wasm', null);
  const loaded = await loadModel(values.model, { expectFeatures: resolveFeatureConfig() });
  const embedder = new Embedder(loaded, { extraFeatures: DEFAULT_LEARN.extraFeatures && !values['head-only'] });
  const c = loaded.metadata.features;
  const prepare = {
    household,
    ambient: values.ambient,
    augmentations: Number(values.augmentations),
    ...(Number(values.pitch) ? { pitch: Number(values.pitch) } : {}),
    snrDb: Number(values['snr-db']),
    bankAmbient: 1000,
  };
  // the embeddings depend on the trunk, the embedding and these options only: a cache file skips minutes of rendering
  const manifest = await readFile(join(household, 'manifest.csv'), 'utf8').catch(() => {
    throw new Error(`${household}/manifest.csv not found: cut the data first (npm run data -- household ${household})`);
  });
  const key = JSON.stringify({ trunk: trunkFingerprint(loaded.model), dims: embedder.dims, manifest: manifest.length, ...prepare });
  const cached = values.cache
    ? await readFile(values.cache)
        .then((b) => deserialize(b) as { key: string; data: BenchData })
        .catch(() => undefined)
    : undefined;
  const data =
    cached?.key === key
      ? cached.data
      : await prepareBench(embedder, c, { ...prepare, onProgress: (s) => process.stderr.write(`  … embedding ${s}\n`) });
  if (values.cache && cached?.key !== key) await writeFile(values.cache, serialize({ key, data }));
  // the model's own bank when it has one for this trunk (what `soundee learn` uses); else one from the data
  const shipped = values['bank-source'] === 'data' ? undefined : await readBank(values.model);
  const bankSource =
    shipped && shipped.header.trunk === trunkFingerprint(loaded.model) && shipped.header.dims === embedder.dims ? 'model' : 'data';
  if (bankSource === 'model') {
    const emb = shipped!.emb;
    data.bank = { emb, offsets: rowOffsets(embedder.logits(emb), embedder.head.classes), count: shipped!.header.count };
  } else {
    if (values['bank-max']) data.bank = subsample(data.bank, embedder.dims, Number(values['bank-max']));
    // stored as a model directory stores it (one byte per feature)
    const q = quantizeBank(data.bank.emb, embedder.dims);
    data.bank = { ...data.bank, emb: Float32Array.from(q.data, (v, i) => q.min[i % embedder.dims]! + q.step[i % embedder.dims]! * v) };
  }
  const prepSeconds = (performance.now() - started) / 1000;
  const a = data.ambientTest;
  const accuracyBefore = a.labels.filter((l, i) => a.argmax[i] === l).length / a.labels.length;
  const types = [...new Set(data.clips.map((x) => x.type))].sort();
  const ks = values.k.split(',').map(Number);
  const variants = values.variants ? VARIANTS.filter((v) => values.variants!.split(',').includes(v.name)) : VARIANTS;
  const cells: Cell[] = [];
  const list = (s: string) => s.split(',').map(Number);
  for (const thr of list(values['event-threshold']))
    for (const nw of list(values['negative-weight']))
      for (const l2 of list(values.l2)) {
        const ev = { threshold: thr, minDurationMs: Number(values['min-duration']) };
        for (const base of variants) {
          const v = { ...base, settings: { ...base.settings, negativeWeight: nw, l2 } };
          const name = `${v.name} nw${nw} l2=${l2} @${thr}`;
          for (const type of types)
            for (const k of ks) {
              const cell = drawsFor(data, embedder, type, k, v, ev, Number(values.draws), accuracyBefore, values.loo);
              if (cell) cells.push({ ...cell, variant: name });
            }
          const sum = summarize(cells.filter((c) => c.variant === name));
          process.stderr.write(`  ${name}: ${sum}\n`);
        }
      }
  const report = {
    command: `tsx bench/fewshot.ts ${process.argv.slice(2).join(' ')}`,
    model: values.model,
    uptimeBefore: before,
    uptimeAfter: uptime(),
    seconds: { prepare: prepSeconds, total: (performance.now() - started) / 1000 },
    audioSeconds: data.seconds,
    nonTargetHours: data.nonTarget.reduce((s, x) => s + x.durationMs, 0) / 3.6e6,
    bankWindows: data.bank.count,
    bankSource,
    accuracyBefore,
    recordings: Object.fromEntries(types.map((t) => [t, new Set(data.clips.filter((x) => x.type === t).map((x) => x.group)).size])),
    cells,
  };
  printReport(report);
  if (values.out) await writeFile(values.out, `${JSON.stringify(report, null, 2)}\n`);
  if (values.plot) await writeSvg(values.plot, recallPlotSvg(cells, report.recordings));
  embedder.dispose();
}

function printReport(r: {
  cells: Cell[];
  accuracyBefore: number;
  nonTargetHours: number;
  uptimeBefore: string;
  uptimeAfter: string;
  recordings: Record<string, number>;
  seconds: { prepare: number; total: number };
}): void {
  console.log(`before: ${r.uptimeBefore}\nafter:  ${r.uptimeAfter}`);
  console.log(
    `non-target audio ${r.nonTargetHours.toFixed(2)} h; ambient test accuracy before learning ${(100 * r.accuracyBefore).toFixed(1)} %; embedding ${r.seconds.prepare.toFixed(0)} s, total ${r.seconds.total.toFixed(0)} s`,
  );
  console.log(
    `recordings per type: ${Object.entries(r.recordings)
      .map(([t, n]) => `${t} ${n}`)
      .join(', ')}`,
  );
  const rows = [['variant', 'type', 'k', 'test clips', 'recall (events)', 'window recall', 'false alarms/h', 'accuracy lost (pts)']];
  for (const cell of r.cells)
    rows.push([
      cell.variant,
      cell.type,
      String(cell.k),
      cell.testClips.toFixed(1),
      cell.recall.toFixed(2),
      cell.windowRecall.toFixed(2),
      cell.falseAlarmsPerHour.toFixed(1),
      cell.accuracyLossPoints.toFixed(2),
    ]);
  console.log(table(rows));
}

await main();
