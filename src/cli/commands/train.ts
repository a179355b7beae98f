/** `soundee train`: options → `trainToDirectory` (train, keep the best epoch, save, evaluate on the test split) → progress and report. */
import { type Command, Option } from 'commander';
import { DEFAULTS } from '../../config.ts';
import { type AugmentOptions, DEFAULT_AUGMENT } from '../../data/augment.ts';
import { ARCHITECTURES, type Architecture } from '../../model/architectures.ts';
import { initBackend, type BackendChoice } from '../../model/backend.ts';
import type { WeightQuantization } from '../../model/io.ts';
import { formatReport } from '../../training/metrics.ts';
import { trainToDirectory } from '../../training/to-directory.ts';
import { backendOption, fail, info, parseNumber } from '../common.ts';
import { type Progress, progressBar } from '../progress.ts';

interface TrainCliOptions {
  data: string;
  arch: Architecture;
  head: 'freq' | 'gap';
  out: string;
  name?: string;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  patience: number;
  augment: boolean;
  mix: number;
  noise: number;
  gaps: number;
  eq: number;
  masks: number;
  sampling: 'balanced' | 'groups' | 'natural';
  labelSmoothing: number;
  schedule: 'cosine' | 'constant';
  quantize: WeightQuantization;
  threshold: number;
  cores?: number;
  mixup: number;
  ema: number;
  augmentJson?: Partial<AugmentOptions>;
  backend?: BackendChoice;
}

function parseAugmentJson(v: string): Partial<AugmentOptions> {
  let o: unknown;
  try {
    o = JSON.parse(v);
  } catch (e) {
    fail(`--augment-json: ${(e as Error).message}`, 2);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) fail('--augment-json must be a JSON object', 2);
  const unknown = Object.keys(o).filter((k) => !(k in DEFAULT_AUGMENT));
  if (unknown.length)
    fail(`--augment-json: unknown setting(s) ${unknown.join(', ')}; known: ${Object.keys(DEFAULT_AUGMENT).join(', ')}`, 2);
  return o as Partial<AugmentOptions>;
}

const fmtTime = (s: number) =>
  s >= 3600
    ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
    : s >= 60
      ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`
      : `${s.toFixed(1)}s`;

/** Adds the augmentation options: --no-augment, --mix, --noise, --gaps, --eq, --masks, --augment-json. */
function augmentOptions(cmd: Command): Command {
  return cmd
    .option('--no-augment', 'train on the stored images, without augmentation')
    .option(
      '--mix <p>',
      'probability of mixing another clip underneath (background mixing)',
      parseNumber('--mix', { min: 0, max: 1 }),
      DEFAULT_AUGMENT.mixProbability,
    )
    .option(
      '--noise <p>',
      'probability of adding white/pink/brown noise',
      parseNumber('--noise', { min: 0, max: 1 }),
      DEFAULT_AUGMENT.noiseProbability,
    )
    .option(
      '--gaps <p>',
      'probability of a 50–400 ms stretch of digital silence',
      parseNumber('--gaps', { min: 0, max: 1 }),
      DEFAULT_AUGMENT.gapProbability,
    )
    .option('--eq <p>', 'probability of a random spectral tilt/EQ', parseNumber('--eq', { min: 0, max: 1 }), DEFAULT_AUGMENT.eqProbability)
    .option(
      '--masks <p>',
      'probability of frequency and time masks',
      parseNumber('--masks', { min: 0, max: 1 }),
      DEFAULT_AUGMENT.maskProbability,
    )
    .option(
      '--augment-json <json>',
      'any augmentation setting as JSON, e.g. \'{"mixGainDb":[-30,-3],"eqDb":10}\' (names as in src/data/augment.ts)',
      parseAugmentJson,
    );
}

/** Adds the data, network and optimiser options (up to --patience). */
function modelTrainOptions(cmd: Command): Command {
  return cmd
    .description('train a network on a dataset file (train split), keep the epoch with the best validation accuracy, report test metrics')
    .requiredOption('--data <file>', 'dataset file from `soundee dataset build`')
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
    .requiredOption('--out <dir>', 'model directory to write (e.g. models/mine)')
    .option('--name <name>', 'model name shown to clients (default: the directory name)')
    .option('--epochs <n>', 'most epochs', parseNumber('--epochs', { integer: true, min: 1 }), 40)
    .option('--batch-size <n>', 'mini-batch size', parseNumber('--batch-size', { integer: true, min: 1 }), DEFAULTS.trainingBatchSize)
    .option('--lr <x>', 'Adam learning rate', parseNumber('--lr', { min: 1e-7, max: 1 }), 1e-3)
    .option('--seed <n>', 'seed of initialisation, sampling and augmentation', parseNumber('--seed', { integer: true, min: 0 }), 1)
    .option(
      '--patience <n>',
      'early stopping: epochs without a better validation accuracy (0 = off)',
      parseNumber('--patience', { integer: true, min: 0 }),
      12,
    );
}

/** Adds sampling, mixup, EMA, label smoothing, schedule, quantisation, threshold and cores. */
function moreTrainOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--sampling <how>',
        'balanced: classes equally likely; groups: classes and, within a class, recordings equally likely; natural: dataset proportions',
      )
        .choices(['balanced', 'groups', 'natural'])
        .default('balanced'),
    )
    .option(
      '--mixup <alpha>',
      'mixup: blend each batch with a shuffled copy, λ ~ Beta(α, α) (0 = off)',
      parseNumber('--mixup', { min: 0, max: 10 }),
      0,
    )
    .option(
      '--ema <decay>',
      'keep an exponential moving average of the weights per step and select/save it (e.g. 0.995; 0 = off)',
      parseNumber('--ema', { min: 0, max: 0.99999 }),
      0,
    )
    .option('--label-smoothing <e>', 'label smoothing', parseNumber('--label-smoothing', { min: 0, max: 0.5 }), 0.1)
    .addOption(new Option('--schedule <s>', 'learning-rate schedule').choices(['cosine', 'constant']).default('cosine'))
    .addOption(
      new Option('--quantize <q>', 'store weights as float32 (none), float16 or uint8')
        .choices(['none', 'float16', 'uint8'])
        .default('none'),
    )
    .option(
      '--threshold <p>',
      "the model's 'cannot tell' threshold",
      parseNumber('--threshold', { min: 0, max: 1 }),
      DEFAULTS.confidenceThreshold,
    )
    .option(
      '--cores <n>',
      'wasm backend: split each batch over this many cores (worker threads); default all',
      parseNumber('--cores', { integer: true, min: 1, max: 64 }),
    );
}

export function trainCommand(program: Command): void {
  backendOption(moreTrainOptions(augmentOptions(modelTrainOptions(program.command('train')))), 'training').action(train);
}

/** The augmentation the options ask for (null with --no-augment). */
function augmentOf(o: TrainCliOptions): AugmentOptions | null {
  if (!o.augment) return null;
  return {
    ...DEFAULT_AUGMENT,
    mixProbability: o.mix,
    noiseProbability: o.noise,
    gapProbability: o.gaps,
    eqProbability: o.eq,
    maskProbability: o.masks,
    ...o.augmentJson,
  };
}

async function train(o: TrainCliOptions): Promise<void> {
  // training runs on TensorFlow.js: auto skips onnx, and --backend onnx is refused
  const backend = await initBackend(o.backend, undefined, { purpose: 'training' });
  const augment = augmentOf(o);
  let stopRequested = false;
  const onSigint = () => {
    if (stopRequested) process.exit(130);
    stopRequested = true;
    info('\nsoundee: stopping after this batch and saving the best epoch so far (Ctrl-C again to quit without saving)');
  };
  process.on('SIGINT', onSigint);
  let bar: Progress | undefined;
  const started = performance.now();
  try {
    const r = await trainToDirectory({
      data: o.data,
      out: o.out,
      ...(o.name === undefined ? {} : { name: o.name }),
      quantize: o.quantize,
      threshold: o.threshold,
      backend,
      arch: o.arch,
      head: o.head,
      epochs: o.epochs,
      batchSize: o.batchSize,
      lr: o.lr,
      seed: o.seed,
      patience: o.patience,
      augment,
      sampling: o.sampling,
      labelSmoothing: o.labelSmoothing,
      lrSchedule: o.schedule,
      ...(o.cores === undefined ? {} : { replicas: o.cores }),
      mixup: o.mixup,
      ema: o.ema,
      shouldStop: () => stopRequested,
      onStart: ({ dataset, importedImages }) => {
        if (importedImages)
          info(
            'soundee: note: this dataset holds imported images; the model will render live audio with the default feature settings, which may not match your images',
          );
        const counts = dataset.counts();
        const n = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
        info(
          `soundee: training ${o.arch} on ${o.data}: ${n(counts.train)} train / ${n(counts.valid)} valid items, ${dataset.classes.length} classes, ${augment ? 'augmented' : 'no augmentation'}`,
        );
      },
      onEpochStart: ({ epoch, done, total }) => {
        if (done <= 8) bar = progressBar(`epoch ${epoch + 1}/${o.epochs} augment`, total);
        bar?.update(done);
        if (done === total) bar?.stop();
      },
      onBatch: ({ epoch, batch, batches, loss, acc }) => {
        if (batch === 1) bar = progressBar(`epoch ${epoch + 1}/${o.epochs} train  `, batches, 'loss {loss} acc {acc}');
        bar?.update(batch, { loss: loss.toFixed(3), acc: acc.toFixed(3) });
        if (batch === batches) bar?.stop();
      },
      onEpoch: (l) => {
        bar?.stop();
        const elapsed = (performance.now() - started) / 1000;
        const eta = (elapsed / (l.epoch + 1)) * (o.epochs - l.epoch - 1);
        info(
          `epoch ${l.epoch + 1}/${o.epochs}: loss ${l.loss.toFixed(3)} acc ${l.acc.toFixed(3)} | val loss ${l.valLoss.toFixed(3)} val acc ${l.valAcc.toFixed(3)}${l.best ? ' (best)' : ''} | ${l.seconds.toFixed(1)} s (augment ${l.augmentSeconds.toFixed(1)} s), ${l.imagesPerSec.toFixed(0)} img/s | ETA ≤ ${fmtTime(eta)}`,
        );
      },
    });
    const best = r.history[r.bestEpoch]!;
    info(`soundee: kept epoch ${r.bestEpoch + 1} (val acc ${best.valAcc.toFixed(3)}); trained ${fmtTime(r.seconds)}; wrote ${o.out}`);
    if (r.evaluation) console.log(formatReport(r.evaluation));
  } finally {
    bar?.stop();
    process.off('SIGINT', onSigint);
  }
}
