/**
 * The few-shot benchmark's inputs, embedded once: the trunk is frozen while a class is learned, so a
 * window's embedding (and its original logits) never changes, and every draw of every method only
 * recomputes one more logit and runs the event layer on it.
 *
 * - recordings of each household type (`npm run data -- household data/household`), each clip with its
 *   sound windows as recorded and augmented copies (fixed seed), for learning;
 * - a test stream per clip: the clip between two seconds of held-out background audio, 20 dB under
 *   it, framed and rendered as one stream (what a microphone in a room would deliver), for recall;
 * - non-target streams: the background recordings (music, effects) and the ambient set's test split,
 *   for false alarms per hour; the ambient test windows with their labels, for the original classes'
 *   accuracy;
 * - the bank of negatives: the household `bank` cuts and a sample of the ambient set's train split.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { type FeatureConfig, windowSamples } from '../src/config.ts';
import { loadAudio } from '../src/audio/wav-reader.ts';
import { renderClip } from '../src/features/clip.ts';
import { renderAugmented } from '../src/data/augment.ts';
import { scanClips } from '../src/data/scan.ts';
import { splitByGroup } from '../src/data/split.ts';
import type { Embedder } from '../src/learn/embed.ts';
import { type ClipWindows, loadClip, soundWindows, windowAudio } from '../src/learn/examples.ts';
import { DEFAULT_LEARN, type EmbeddedWindows, embedImages, noiseNegatives } from '../src/learn/learn.ts';
import { Random } from '../src/util/random.ts';

/** Embedded windows of one stream, with what the event layer reads besides the score. */
export interface EmbeddedStream extends EmbeddedWindows {
  id: string;
  startMs: Float64Array;
  rmsDb: Float64Array;
  durationMs: number;
}

/** One clip of a household type, embedded. */
export interface BenchClip {
  type: string;
  group: string;
  package: string;
  clip: string;
  /** Sound windows as recorded. */
  recorded: EmbeddedWindows;
  /** Augmented copies of the sound windows. */
  augmented: EmbeddedWindows;
  /** The clip inside background audio, and where the clip lies in it. */
  stream: EmbeddedStream;
  clipStartMs: number;
  clipEndMs: number;
}

export interface BenchData {
  clips: BenchClip[];
  /** Non-target streams (background recordings, ambient test recordings). */
  nonTarget: EmbeddedStream[];
  /** Ambient test windows, labelled with the model's class index. */
  ambientTest: { windows: EmbeddedWindows; labels: number[]; maxLogit: Float32Array; argmax: number[] };
  bank: EmbeddedWindows;
  /** Synthetic negatives (noise of several colours and levels), which `soundee learn` always adds. */
  noise: EmbeddedWindows;
  seconds: { household: number; background: number; ambientTest: number };
}

interface ManifestRow {
  clip: string;
  class: string;
  package: string;
  group: string;
}

const rms = (x: Float32Array) => Math.sqrt(x.reduce((a, v) => a + v * v, 0) / Math.max(1, x.length)) || 1e-9;

/** Frames, renders and embeds one signal as a stream. */
async function embedStream(embedder: Embedder, id: string, samples: Float32Array, c: FeatureConfig): Promise<EmbeddedStream> {
  const r = await renderClip(samples, c);
  const w = embedImages(embedder, r.images);
  return {
    ...w,
    id,
    startMs: Float64Array.from(r.windows, (x) => (x.startSample / c.sampleRateHz) * 1000),
    rmsDb: Float64Array.from(r.windows, (x) => x.rmsDb),
    durationMs: (r.samples.length / c.sampleRateHz) * 1000,
  };
}

/** Background audio for the test streams: every background recording, joined. */
function bedSource(background: readonly Float32Array[]): (n: number, rng: Random) => Float32Array {
  const all = background.filter((x) => x.length > 0);
  return (n, rng) => {
    const src = all[rng.int(all.length)]!;
    const out = new Float32Array(n);
    const at = rng.int(Math.max(1, src.length - n));
    for (let i = 0; i < n; i++) out[i] = src[(at + i) % src.length]!;
    return out;
  };
}

/** The clip between two stretches of bed audio `snrDb` under the clip's loudest window. */
function inBed(clip: ClipWindows, bed: (n: number, rng: Random) => Float32Array, c: FeatureConfig, snrDb: number, rng: Random) {
  const pad = 2 * c.sampleRateHz;
  const loud = soundWindows(clip.windows);
  const level = Math.max(...loud.map((i) => rms(windowAudio(clip, clip.windows[i]!, c))));
  const n = Math.round((clip.durationMs / 1000) * c.sampleRateHz);
  const b = bed(n + 2 * pad, rng);
  const g = (level * 10 ** (-snrDb / 20)) / rms(b);
  const x = Float32Array.from(b, (v) => v * g);
  for (let i = 0; i < n; i++) x[pad + i]! += clip.samples[i]!;
  return { samples: x, startMs: 2000, endMs: 2000 + clip.durationMs };
}

/** Options of {@link prepareBench}. */
export interface PrepareOptions {
  household: string;
  ambient: string;
  augmentations: number;
  /** Probability of a pitch shift in the examples' augmented copies (0: none, as `soundee learn` today). */
  pitch?: number;
  /** Background level under the clip in the test streams, dB. */
  snrDb: number;
  /** Ambient train windows in the bank. */
  bankAmbient: number;
  onProgress?: (what: string) => void;
}

async function readManifest(dir: string): Promise<ManifestRow[]> {
  return parse(await readFile(join(dir, 'manifest.csv'), 'utf8'), { columns: true, skip_empty_lines: true }) as ManifestRow[];
}

/** Embeds everything the benchmark needs (minutes on two cores; each window once). */
export async function prepareBench(embedder: Embedder, c: FeatureConfig, o: PrepareOptions): Promise<BenchData> {
  const rows = await readManifest(o.household);
  const rng = new Random(7);
  const say = o.onProgress ?? (() => {});
  say('background recordings');
  const bgRows = rows.filter((r) => r.class === 'background');
  const background: Float32Array[] = [];
  const nonTarget: EmbeddedStream[] = [];
  let bgSeconds = 0;
  for (const r of bgRows) {
    const x = await loadAudio(join(o.household, r.clip), c.sampleRateHz);
    background.push(x);
    bgSeconds += x.length / c.sampleRateHz;
    if (x.length >= windowSamples(c)) nonTarget.push(await embedStream(embedder, `${r.package}:${r.clip}`, x, c));
  }
  const bed = bedSource(background);
  say('ambient set');
  const amb = await scanClips(o.ambient);
  const splits = splitByGroup(amb.clips, { seed: 42 });
  const testRefs = amb.clips.filter((_, i) => splits[i] === 'test');
  const trainRefs = amb.clips.filter((_, i) => splits[i] === 'train');
  const byGroup = new Map<string, Float32Array[]>();
  const testImages: Uint8Array[] = [];
  const labels: number[] = [];
  let ambSeconds = 0;
  for (const ref of testRefs) {
    const x = await loadAudio(ref.path, c.sampleRateHz, c.resampler);
    const r = await renderClip(x, c);
    testImages.push(...r.images);
    for (const _ of r.images) labels.push(embedder.classNames.indexOf(ref.label));
    byGroup.set(ref.group, [...(byGroup.get(ref.group) ?? []), r.samples]);
    ambSeconds += r.samples.length / c.sampleRateHz;
  }
  for (const [g, parts] of byGroup) {
    const joined = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of parts) {
      joined.set(p, at);
      at += p.length;
    }
    nonTarget.push(await embedStream(embedder, `ambient:${g}`, joined, c));
  }
  const testWindows = embedImages(embedder, testImages);
  const logits = embedder.logits(testWindows.emb);
  const k = embedder.head.classes;
  const argmax = labels.map((_, i) => {
    let b = 0;
    for (let j = 1; j < k; j++) if (logits[i * k + j]! > logits[i * k + b]!) b = j;
    return b;
  });
  const maxLogit = Float32Array.from(argmax, (b, i) => logits[i * k + b]!);
  say('bank');
  const bankRows = rows.filter((r) => r.class === 'bank');
  const bankImages: Uint8Array[] = [];
  for (const r of bankRows) bankImages.push(...(await renderClip(await loadAudio(join(o.household, r.clip), c.sampleRateHz), c)).images);
  const ambPick = rng.shuffle([...trainRefs]).slice(0, o.bankAmbient);
  for (const ref of ambPick)
    bankImages.push(...(await renderClip(await loadAudio(ref.path, c.sampleRateHz, c.resampler), c)).images.slice(0, 1));
  const bank = embedImages(embedder, bankImages);
  say('synthetic noise negatives');
  const noise = await noiseNegatives(embedder, c);
  say('household clips');
  const clips: BenchClip[] = [];
  let hhSeconds = 0;
  for (const r of rows.filter((x) => x.class !== 'background' && x.class !== 'bank')) {
    const clip = await loadClip(join(o.household, r.clip), c);
    hhSeconds += clip.durationMs / 1000;
    const picks = soundWindows(clip.windows);
    const recorded = embedImages(
      embedder,
      picks.map((i) => clip.images[i]!),
    );
    const audio = picks.flatMap((i) => Array.from({ length: o.augmentations }, () => windowAudio(clip, clip.windows[i]!, c)));
    const augRng = new Random(11 + clips.length);
    const augmented = embedImages(
      embedder,
      audio.length
        ? await renderAugmented(audio, c, augRng, {
            // soundee learn's augmentation, with nothing to mix underneath (no negative clips)
            ...DEFAULT_LEARN.augment,
            mixProbability: 0,
            ...(o.pitch ? { pitchProbability: o.pitch } : {}),
          })
        : [],
    );
    const s = inBed(clip, bed, c, o.snrDb, rng);
    clips.push({
      type: r.class,
      group: r.group,
      package: r.package,
      clip: r.clip,
      recorded,
      augmented,
      stream: await embedStream(embedder, r.clip, s.samples, c),
      clipStartMs: s.startMs,
      clipEndMs: s.endMs,
    });
  }
  return {
    clips,
    nonTarget,
    ambientTest: { windows: testWindows, labels, maxLogit, argmax },
    bank,
    noise,
    seconds: { household: hhSeconds, background: bgSeconds, ambientTest: ambSeconds },
  };
}
