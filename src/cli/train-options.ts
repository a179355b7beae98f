/**
 * The training recipe's command-line options, in one place for `soundee train` and `soundee cv` (a
 * cross-validation must train exactly as the final model will).
 */
import { type Command, Option } from 'commander';
import { type AugmentOptions, DEFAULT_AUGMENT, OPTIONAL_AUGMENT } from '../data/augment.ts';
import { ARCHITECTURES, type Architecture } from '../model/architectures.ts';
import { SAMPLINGS, type Sampling, type TrainOptions, recipeRecordOf } from '../training/train.ts';
import { fail, info, parseNumber } from './common.ts';
import { type Progress, progressBar } from './progress.ts';

/** The parsed recipe options (commander's names for them). */
export interface RecipeCliOptions {
  arch: Architecture;
  head: 'freq' | 'gap';
  widths?: [number, number, number];
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  itemsPerEpoch?: number;
  augment: boolean;
  mix: number;
  noise: number;
  gaps: number;
  eq: number;
  masks: number;
  pitch: number;
  backgroundMix: number;
  bandLimit: number;
  reverb: number;
  sampling: Sampling;
  labelSmoothing: number;
  schedule: 'cosine' | 'constant';
  cores?: number;
  mixup: number;
  freqMixstyle: number;
  ema: number;
  augmentJson?: Partial<AugmentOptions>;
  backgroundClass?: string[];
  backgroundWeight: number;
}

function parseAugmentJson(v: string): Partial<AugmentOptions> {
  let o: unknown;
  try {
    o = JSON.parse(v);
  } catch (e) {
    fail(`--augment-json: ${(e as Error).message}`, 2);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) fail('--augment-json must be a JSON object', 2);
  const unknown = Object.keys(o).filter((k) => !(k in DEFAULT_AUGMENT) && !OPTIONAL_AUGMENT.includes(k));
  if (unknown.length)
    fail(
      `--augment-json: unknown setting(s) ${unknown.join(', ')}; known: ${[...Object.keys(DEFAULT_AUGMENT), ...OPTIONAL_AUGMENT].join(', ')}`,
      2,
    );
  return o as Partial<AugmentOptions>;
}

function parseWidths(v: string): [number, number, number] {
  const w = v.split(',').map((x) => Number(x.trim()));
  if (w.length !== 3 || !w.every((x) => Number.isInteger(x) && x >= 1 && x <= 512))
    fail(`--widths takes three channel counts such as 32,64,128, got "${v}"`, 2);
  return w as [number, number, number];
}

const probability = (name: string) => parseNumber(name, { min: 0, max: 1 });

/** The augmentation options of training and cross-validation (their defaults: DEFAULT_AUGMENT's). */
function augmentationOptions(cmd: Command): Command {
  const d = DEFAULT_AUGMENT;
  return cmd
    .option('--no-augment', 'train on the stored images, without augmentation')
    .option('--mix <p>', 'probability of mixing another clip underneath (any class, −24…−8 dB)', probability('--mix'), d.mixProbability)
    .option(
      '--background-mix <p>',
      'probability of mixing a background-class clip underneath at 0–20 dB signal-to-background',
      probability('--background-mix'),
      d.backgroundMixProbability,
    )
    .option('--noise <p>', 'probability of adding white/pink/brown noise', probability('--noise'), d.noiseProbability)
    .option('--gaps <p>', 'probability of a 50–400 ms stretch of digital silence', probability('--gaps'), d.gapProbability)
    .option('--eq <p>', 'probability of a random spectral tilt/EQ', probability('--eq'), d.eqProbability)
    .option(
      '--band-limit <p>',
      'probability of random low-/high-pass band-limiting (another microphone)',
      probability('--band-limit'),
      d.bandLimitProbability,
    )
    .option('--reverb <p>', 'probability of a synthetic reverberant tail (another room)', probability('--reverb'), d.reverbProbability)
    .option('--masks <p>', 'probability of frequency and time masks', probability('--masks'), d.maskProbability)
    .option(
      '--pitch <p>',
      'probability of moving the spectrum up or down by up to 3 semitones (another source of the same kind; 0 = off)',
      probability('--pitch'),
      0,
    )
    .option(
      '--augment-json <json>',
      'any augmentation setting as JSON, e.g. \'{"mixGainDb":[-30,-3],"eqDb":10}\' (names as in src/data/augment.ts)',
      parseAugmentJson,
    );
}

/** Adds the recipe options (architecture, optimiser, sampling, augmentation). */
export function recipeOptions(cmd: Command, { epochs }: { epochs: number }): Command {
  return augmentationOptions(
    cmd
      .addOption(
        new Option('--arch <name>', 'seed-cnn: the capstone network; resnet: a small residual network')
          .choices([...ARCHITECTURES])
          .default('resnet'),
      )
      .addOption(
        new Option('--head <kind>', 'resnet: gap = global average pooling; freq = pool over time only, keeping frequency position')
          .choices(['gap', 'freq'])
          .default('gap'),
      )
      .option(
        '--widths <a,b,c>',
        'resnet: channels of the three residual stages (default 16,32,64; wider learns more, costs more per window)',
        parseWidths,
      )
      .option('--epochs <n>', 'epochs', parseNumber('--epochs', { integer: true, min: 1 }), epochs)
      .option(
        '--items-per-epoch <n>',
        'items drawn per epoch (default: the number of training items)',
        parseNumber('--items-per-epoch', { integer: true, min: 1 }),
      )
      .option('--batch-size <n>', 'mini-batch size', parseNumber('--batch-size', { integer: true, min: 1 }), 64)
      .option('--lr <x>', 'Adam learning rate', parseNumber('--lr', { min: 1e-7, max: 1 }), 1e-3)
      .option('--seed <n>', 'seed of initialisation, sampling and augmentation', parseNumber('--seed', { integer: true, min: 0 }), 1),
  )
    .addOption(
      new Option(
        '--sampling <how>',
        'balanced: classes equally likely; groups: then recordings equally likely; packages: then packages, then recordings; natural: dataset proportions',
      )
        .choices([...SAMPLINGS])
        .default('balanced'),
    )
    .option(
      '--mixup <alpha>',
      'mixup: blend each batch with a shuffled copy, λ ~ Beta(α, α) (0 = off)',
      parseNumber('--mixup', { min: 0, max: 10 }),
      0,
    )
    .option(
      '--freq-mixstyle <p>',
      'probability that a batch swaps frequency responses between its images (Freq-MixStyle: other microphones and rooms; 0 = off)',
      probability('--freq-mixstyle'),
      0,
    )
    .option(
      '--ema <decay>',
      'keep an exponential moving average of the weights per step and use it (e.g. 0.995; 0 = off)',
      parseNumber('--ema', { min: 0, max: 0.99999 }),
      0,
    )
    .option('--label-smoothing <e>', 'label smoothing', parseNumber('--label-smoothing', { min: 0, max: 0.5 }), 0.1)
    .addOption(new Option('--schedule <s>', 'learning-rate schedule').choices(['cosine', 'constant']).default('cosine'))
    .option(
      '--background-class <names...>',
      'classes of "none of these" sounds: never events, mixed under the others by --background-mix (default: a class named "background", if any)',
    )
    .option(
      '--background-weight <w>',
      'sampling: draw a background class this many times as often as a target class',
      parseNumber('--background-weight', { min: 0.01, max: 100 }),
      1,
    )
    .option(
      '--cores <n>',
      'wasm backend: split each batch over this many cores (worker threads); default all',
      parseNumber('--cores', { integer: true, min: 1, max: 64 }),
    );
}

/** The background classes of a dataset: the ones named, or a class called `background`. */
export function backgroundClassesOf(o: { backgroundClass?: string[] }, classes: readonly string[]): string[] {
  const named = o.backgroundClass ?? (classes.includes('background') ? ['background'] : []);
  const bad = named.filter((c) => !classes.includes(c));
  if (bad.length) fail(`--background-class ${bad.join(', ')}: not a class of the dataset (${classes.join(', ')})`, 2);
  return named;
}

/** The augmentation the options ask for (null with --no-augment). */
export function augmentOf(o: RecipeCliOptions): AugmentOptions | null {
  return o.augment
    ? {
        ...DEFAULT_AUGMENT,
        mixProbability: o.mix,
        backgroundMixProbability: o.backgroundMix,
        noiseProbability: o.noise,
        gapProbability: o.gaps,
        eqProbability: o.eq,
        bandLimitProbability: o.bandLimit,
        reverbProbability: o.reverb,
        maskProbability: o.masks,
        ...(o.pitch ? { pitchProbability: o.pitch } : {}),
        ...o.augmentJson,
      }
    : null;
}

/** The training options of a recipe (without items, validation and callbacks). */
export function recipeOf(
  o: RecipeCliOptions,
  backgroundClasses: readonly string[],
): Omit<TrainOptions, 'patience' | 'onBatch' | 'onEpochStart' | 'onEpoch' | 'shouldStop'> {
  return {
    arch: o.arch,
    head: o.head,
    ...(o.widths ? { widths: o.widths } : {}),
    epochs: o.epochs,
    batchSize: o.batchSize,
    lr: o.lr,
    seed: o.seed,
    augment: augmentOf(o),
    sampling: o.sampling,
    labelSmoothing: o.labelSmoothing,
    lrSchedule: o.schedule,
    mixup: o.mixup,
    ...(o.freqMixstyle ? { freqMixStyle: o.freqMixstyle } : {}),
    ema: o.ema,
    backgroundClasses,
    backgroundWeight: o.backgroundWeight,
    ...(o.itemsPerEpoch === undefined ? {} : { itemsPerEpoch: o.itemsPerEpoch }),
    ...(o.cores === undefined ? {} : { replicas: o.cores }),
  };
}

/** What a model's metadata and a cross-validation report record of the recipe (`recipeRecordOf`). */
export function recipeRecord(o: RecipeCliOptions, backgroundClasses: readonly string[]): Record<string, unknown> {
  return recipeRecordOf(recipeOf(o, backgroundClasses));
}

/** Formats seconds as 1h02m, 3m05s or 4.2s. */
export const fmtTime = (s: number): string =>
  s >= 3600
    ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
    : s >= 60
      ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`
      : `${s.toFixed(1)}s`;

/** Training callbacks that draw a progress bar per epoch phase and print one line per epoch. */
export function epochProgress(
  epochs: number,
  label = '',
): Pick<TrainOptions, 'onEpochStart' | 'onBatch' | 'onEpoch'> & { stop(): void; started: number } {
  let bar: Progress | undefined;
  const started = performance.now();
  return {
    started,
    stop: () => bar?.stop(),
    onEpochStart: ({ epoch, done, total }) => {
      if (done <= 64) bar = progressBar(`${label}epoch ${epoch + 1}/${epochs} augment`, total);
      bar?.update(done);
      if (done === total) bar?.stop();
    },
    onBatch: ({ epoch, batch, batches, loss, acc }) => {
      if (batch === 1) bar = progressBar(`${label}epoch ${epoch + 1}/${epochs} train  `, batches, 'loss {loss} acc {acc}');
      bar?.update(batch, { loss: loss.toFixed(3), acc: acc.toFixed(3) });
      if (batch === batches) bar?.stop();
    },
    onEpoch: (l) => {
      bar?.stop();
      const elapsed = (performance.now() - started) / 1000;
      const eta = (elapsed / (l.epoch + 1)) * (epochs - l.epoch - 1);
      const val = Number.isNaN(l.valAcc)
        ? ''
        : ` | val loss ${l.valLoss.toFixed(3)} val acc ${l.valAcc.toFixed(3)}${l.best ? ' (best)' : ''}`;
      info(
        `${label}epoch ${l.epoch + 1}/${epochs}: loss ${l.loss.toFixed(3)} acc ${l.acc.toFixed(3)}${val} | ${l.seconds.toFixed(1)} s (augment ${l.augmentSeconds.toFixed(1)} s), ${l.imagesPerSec.toFixed(0)} img/s | ETA ≤ ${fmtTime(eta)}`,
      );
    },
  };
}
