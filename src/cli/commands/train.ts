/**
 * `soundee train`: options → `trainToDirectory` (train, keep the best epoch on validation or the last
 * on every item, save, evaluate on the test split) → progress and report.
 */
import { type Command, Option } from 'commander';
import { DEFAULTS } from '../../config.ts';
import { readDataset } from '../../data/dataset-file.ts';
import { type BackendChoice, initBackend } from '../../model/backend.ts';
import type { WeightQuantization } from '../../model/io.ts';
import { handoverOf, readCvReport } from '../../training/cv-report.ts';
import { formatReport } from '../../training/metrics.ts';
import { trainToDirectory } from '../../training/to-directory.ts';
import { backendOption, fail, info, parseNumber } from '../common.ts';
import { type RecipeCliOptions, backgroundClassesOf, epochProgress, fmtTime, recipeOf, recipeOptions } from '../train-options.ts';

interface TrainCliOptions extends RecipeCliOptions {
  data: string;
  out: string;
  name?: string;
  patience: number;
  validation: boolean;
  calibration?: string;
  quantize: WeightQuantization;
  threshold: number;
  backend?: BackendChoice;
}

export function trainCommand(program: Command): void {
  backendOption(
    recipeOptions(
      program
        .command('train')
        .description(
          'train a network on a dataset file: its train split, keeping the epoch with the best validation accuracy (or every item and the last epoch with --no-validation); report test metrics',
        )
        .requiredOption('--data <file>', 'dataset file from `soundee dataset build`')
        .requiredOption('--out <dir>', 'model directory to write (e.g. models/mine)')
        .option('--name <name>', 'model name shown to clients (default: the directory name)'),
      { epochs: 40 },
    )
      .option(
        '--patience <n>',
        'early stopping: epochs without a better validation accuracy (0 = off)',
        parseNumber('--patience', { integer: true, min: 0 }),
        12,
      )
      .option(
        '--no-validation',
        'train on every item of the dataset (all splits) for --epochs and keep the last epoch: the final model after `soundee cv` chose the recipe',
      )
      .option(
        '--calibration <cv-report.json>',
        "store the temperature and per-class event thresholds that `soundee cv` fitted on held-out packages (and its figures) in the model's metadata",
      )
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
      ),
    'training',
  ).action(train);
}

async function train(o: TrainCliOptions): Promise<void> {
  // training runs on TensorFlow.js: auto skips onnx, and --backend onnx is refused
  const backend = await initBackend(o.backend, undefined, { purpose: 'training' });
  const ds = await readDataset(o.data);
  let handover: ReturnType<typeof handoverOf> | undefined;
  if (o.calibration) {
    try {
      handover = handoverOf(await readCvReport(o.calibration), o.calibration, ds.classes);
    } catch (e) {
      fail(`--calibration ${(e as Error).message}`, 2);
    }
  }
  const backgroundClasses = backgroundClassesOf(o, ds.classes);
  const recipe = recipeOf(o, backgroundClasses);
  let stopRequested = false;
  const onSigint = () => {
    if (stopRequested) process.exit(130);
    stopRequested = true;
    info(
      `\nsoundee: stopping after this batch and saving the ${o.validation ? 'best epoch so far' : 'last complete epoch'} (Ctrl-C again to quit without saving)`,
    );
  };
  process.on('SIGINT', onSigint);
  const progress = epochProgress(o.epochs);
  try {
    const r = await trainToDirectory({
      ...recipe,
      data: ds,
      dataName: o.data,
      out: o.out,
      ...(o.name === undefined ? {} : { name: o.name }),
      quantize: o.quantize,
      threshold: o.threshold,
      backend,
      patience: o.patience,
      validation: o.validation,
      ...(handover ? { handover } : {}),
      shouldStop: () => stopRequested,
      onStart: ({ dataset, importedImages }) => {
        if (importedImages)
          info(
            'soundee: note: this dataset holds imported images; the model will render live audio with the default feature settings, which may not match your images',
          );
        const items = o.validation
          ? `${dataset.indices('train').length} items, ${dataset.indices('valid').length} to validate on`
          : `${dataset.header.items.length} items (all splits, no validation: the last epoch is kept)`;
        info(
          `soundee: training ${o.arch} on ${o.data}: ${items}, ${dataset.classes.length} classes${backgroundClasses.length ? ` (background: ${backgroundClasses.join(', ')})` : ''}, ${recipe.augment ? 'augmented' : 'no augmentation'}`,
        );
      },
      onEpochStart: progress.onEpochStart,
      onBatch: progress.onBatch,
      onEpoch: progress.onEpoch,
    });
    const kept = r.history[r.bestEpoch]!;
    info(
      `soundee: kept epoch ${r.bestEpoch + 1}${r.validItems ? ` (val acc ${kept.valAcc.toFixed(3)})` : ''}; trained ${fmtTime(r.seconds)}; wrote ${o.out}`,
    );
    if (r.evaluation) console.log(formatReport(r.evaluation));
  } finally {
    progress.stop();
    process.off('SIGINT', onSigint);
  }
}
