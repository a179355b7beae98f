/**
 * Training throughput (images/s) of the architectures on the WASM backend, variants side by side:
 *
 *  - `wasm`: one thread, `model.trainOnBatch` with the training kernels of @soundee/tfjs-wasm-training (packages/tfjs-wasm-training/src/kernels.ts);
 *  - `wasm-data-parallel`: the batch split over one replica per core (packages/tfjs-wasm-training/src/data-parallel.ts);
 *  - `wasm-xnnpack-threads`: one process whose XNNPACK threadpool uses every core
 *    (src/model/wasm-threads.ts); it needs the threaded binary, so it runs in a child process;
 *  - `cpu`: tfjs's pure-JS backend, seed-cnn only, opt-in (one step takes minutes).
 *
 * Variants take turns in rounds (a few steps each, after a warm-up), so that a change in machine
 * load hits all of them alike; each figure is the median over all timed steps, with min and max.
 *
 * `tsx bench/training.ts [--arch seed-cnn,resnet] [--batch 64] [--rounds 5] [--steps 2]
 *   [--variants wasm,wasm-data-parallel,wasm-xnnpack-threads] [--workers N] [--cpu] [--json]`
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { type Architecture, buildModel } from '../src/model/architectures.ts';
import { DataParallelTrainer, registerWasmTrainingKernels } from '@soundee/tfjs-wasm-training';
import { initWasmBackend } from '../src/model/wasm-threads.ts';
import { type Stat, nextReply, stat, table } from './lib.ts';

export const TRAINING_VARIANTS = ['wasm', 'wasm-data-parallel', 'wasm-xnnpack-threads', 'cpu'] as const;
export type TrainingVariant = (typeof TRAINING_VARIANTS)[number];

/** Options of {@link benchTraining}; every field has a default. */
export interface BenchTrainingOptions {
  /** Architectures to train (default both). */
  archs?: Architecture[];
  /** Images per step (default 64). */
  batchSize?: number;
  /** Untimed steps per variant before timing (default 2). */
  warmupSteps?: number;
  /** Rounds of turns (default 5). */
  rounds?: number;
  /** Timed steps per variant per round (default 2). */
  stepsPerRound?: number;
  /** Variants to run (default wasm, wasm-data-parallel, wasm-xnnpack-threads). `cpu` runs seed-cnn only. */
  variants?: TrainingVariant[];
  /** Replicas (data-parallel) and XNNPACK threads (default: the number of cores, at most 8). */
  workers?: number;
  /** Timed steps of the `cpu` variant, without warm-up (default 1). */
  cpuSteps?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** One variant's throughput on one architecture. */
export interface TrainingFigure {
  arch: Architecture;
  variant: TrainingVariant;
  batchSize: number;
  /** Threads doing the work (replicas, XNNPACK threads, or 1). */
  threads: number;
  imagesPerSec: Stat;
  stepMs: Stat;
}

/** What {@link benchTraining} measured, with the machine's load around it. */
export interface BenchTrainingResult {
  figures: TrainingFigure[];
  /** `uptime` output before and after the runs. */
  uptimeBefore: string;
  uptimeAfter: string;
  /**
   * Single-thread XNNPACK speed before and after the runs, in GFLOP/s of the seed CNN's second
   * convolution (forward, batch 64): on this shared VM the same code runs up to 2× slower at times,
   * so compare figures only with a similar calibration.
   */
  convGflops: { before: Stat; after: Stat };
  cores: number;
  node: string;
}

interface Runner {
  variant: TrainingVariant;
  threads: number;
  /** Runs `n` training steps, returning each one's wall-clock milliseconds. */
  steps(n: number): Promise<number[]>;
  close(): Promise<void>;
}

const NUM_CLASSES = 8;
const LEARNING_RATE = 1e-3;

function batchOf(batchSize: number): { xs: tf.Tensor4D; ys: tf.Tensor2D } {
  return tf.tidy(() => ({
    xs: tf.randomUniform([batchSize, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D,
    ys: tf.oneHot(tf.randomUniform([batchSize], 0, NUM_CLASSES, 'int32', 2) as tf.Tensor1D, NUM_CLASSES).toFloat() as tf.Tensor2D,
  }));
}

async function timed(n: number, step: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await step();
    out.push(performance.now() - t);
  }
  return out;
}

/** model.trainOnBatch on the current backend (the way src/model/train.ts trains). */
async function plainRunner(variant: 'wasm' | 'cpu', arch: Architecture, batchSize: number): Promise<Runner> {
  await tf.setBackend(variant);
  const model = buildModel(arch, { numClasses: NUM_CLASSES, seed: 1 });
  const optimizer = tf.train.adam(LEARNING_RATE);
  model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const { xs, ys } = batchOf(batchSize);
  return {
    variant,
    threads: 1,
    steps: async (n) => {
      await tf.setBackend(variant);
      return timed(n, () => model.trainOnBatch(xs, ys));
    },
    close: async () => {
      tf.dispose([xs, ys]);
      model.dispose();
      optimizer.dispose();
    },
  };
}

async function dataParallelRunner(arch: Architecture, batchSize: number, replicas: number): Promise<Runner> {
  await tf.setBackend('wasm');
  const model = buildModel(arch, { numClasses: NUM_CLASSES, seed: 1 });
  const trainer = await DataParallelTrainer.create(model, { adam: { learningRate: LEARNING_RATE }, replicas });
  const { xs, ys } = batchOf(batchSize);
  return {
    variant: 'wasm-data-parallel',
    threads: replicas,
    steps: async (n) => {
      await tf.setBackend('wasm');
      return timed(n, () => trainer.trainOnBatch(xs, ys));
    },
    close: async () => {
      await trainer.close();
      tf.dispose([xs, ys]);
      model.dispose();
    },
  };
}

/** Messages between {@link xnnpackThreadsRunner} and {@link childMain}. */
type ChildRequest = { steps: number };
type ChildReply = { ready: true } | { times: number[] } | { error: string };

async function xnnpackThreadsRunner(arch: Architecture, batchSize: number, threads: number): Promise<Runner> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--child-xnnpack', arch, String(batchSize), String(threads)], {
    execArgv: ['--import', import.meta.resolve('tsx')],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const next = () => nextReply<ChildReply>(child, (code) => `xnnpack-threads child exited (code ${code})`);
  await next();
  return {
    variant: 'wasm-xnnpack-threads',
    threads,
    steps: async (n) => {
      const reply = next();
      child.send({ steps: n } satisfies ChildRequest);
      const r = await reply;
      if (!('times' in r)) throw new Error('unexpected reply from the xnnpack-threads child');
      return r.times;
    },
    close: async () => {
      child.kill();
    },
  };
}

/** Child process of {@link xnnpackThreadsRunner}: a threaded backend, steps on request. */
async function childMain(arch: Architecture, batchSize: number, threads: number): Promise<void> {
  const send = (m: ChildReply) => process.send?.(m);
  try {
    await initWasmBackend({ threads });
    registerWasmTrainingKernels();
    const runner = await plainRunner('wasm', arch, batchSize);
    process.on('message', (m: ChildRequest) => {
      runner.steps(m.steps).then(
        (times) => send({ times }),
        (e: unknown) => send({ error: String(e) }),
      );
    });
    process.on('disconnect', () => process.exit(0));
    send({ ready: true });
  } catch (e) {
    send({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    process.exit(1);
  }
}

/** GFLOP/s of the seed CNN's 50→75 3×3 convolution at batch 64, a fresh filter each time. */
async function calibrate(): Promise<Stat> {
  await tf.setBackend('wasm');
  const x = tf.randomUniform([64, 32, 32, 50]) as tf.Tensor4D;
  const flops = 2 * 64 * 32 * 32 * 3 * 3 * 50 * 75;
  const rates: number[] = [];
  for (let i = 0; i < 6; i++) {
    const w = tf.randomUniform([3, 3, 50, 75]) as tf.Tensor4D;
    const t = performance.now();
    const y = tf.conv2d(x, w, 1, 'same');
    y.dataSync();
    const ms = performance.now() - t;
    if (i > 0) rates.push(flops / ms / 1e6);
    tf.dispose([w, y]);
  }
  x.dispose();
  return stat(rates);
}

function uptime(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')}`;
  }
}

/**
 * Measures training throughput; see the file comment for the variants. Initialises the single-thread
 * WASM backend in this process (with `initWasmBackend`) if no backend has been chosen yet.
 * @returns one figure per architecture and variant, plus `uptime` before and after.
 */
export async function benchTraining(options: BenchTrainingOptions = {}): Promise<BenchTrainingResult> {
  const archs = options.archs ?? ['seed-cnn', 'resnet'];
  const batchSize = options.batchSize ?? 64;
  const warmup = options.warmupSteps ?? 2;
  const rounds = options.rounds ?? 5;
  const perRound = options.stepsPerRound ?? 2;
  const variants = options.variants ?? ['wasm', 'wasm-data-parallel', 'wasm-xnnpack-threads'];
  const workers = options.workers ?? Math.min(8, os.availableParallelism());
  const log = options.log ?? (() => {});
  const uptimeBefore = uptime();
  await initWasmBackend({ threads: 1 });
  registerWasmTrainingKernels();
  const calibrationBefore = await calibrate();

  const figures: TrainingFigure[] = [];
  const record = (arch: Architecture, r: Runner, times: number[]) => {
    const f = {
      arch,
      variant: r.variant,
      batchSize,
      threads: r.threads,
      stepMs: stat(times),
      imagesPerSec: stat(times.map((t) => (1000 * batchSize) / t)),
    };
    figures.push(f);
    log(`${arch} ${r.variant} (${r.threads} thread${r.threads > 1 ? 's' : ''}): ${f.imagesPerSec.median.toFixed(1)} img/s`);
  };
  for (const arch of archs) {
    const runners: Runner[] = [];
    try {
      for (const v of variants) {
        if (v === 'wasm') runners.push(await plainRunner('wasm', arch, batchSize));
        else if (v === 'wasm-data-parallel') runners.push(await dataParallelRunner(arch, batchSize, workers));
        else if (v === 'wasm-xnnpack-threads') runners.push(await xnnpackThreadsRunner(arch, batchSize, workers));
      }
      for (const r of runners) await r.steps(warmup);
      const times = runners.map(() => [] as number[]);
      for (let round = 0; round < rounds; round++) {
        for (const [i, r] of runners.entries()) times[i]!.push(...(await r.steps(perRound)));
        log(`${arch}: round ${round + 1}/${rounds} done`);
      }
      runners.forEach((r, i) => {
        record(arch, r, times[i]!);
      });
    } finally {
      for (const r of runners) await r.close();
    }
    if (variants.includes('cpu') && arch === 'seed-cnn') {
      const r = await plainRunner('cpu', arch, batchSize);
      try {
        record(arch, r, await r.steps(options.cpuSteps ?? 1));
      } finally {
        await r.close();
        await tf.setBackend('wasm');
      }
    }
  }
  const calibrationAfter = await calibrate();
  return {
    figures,
    uptimeBefore,
    uptimeAfter: uptime(),
    convGflops: { before: calibrationBefore, after: calibrationAfter },
    cores: os.availableParallelism(),
    node: process.version,
  };
}

function printResult(r: BenchTrainingResult): void {
  const g = (s: Stat) => `${s.median.toFixed(1)} GFLOP/s (${s.min.toFixed(1)}–${s.max.toFixed(1)})`;
  console.log(`before: ${r.uptimeBefore}; one-thread conv speed ${g(r.convGflops.before)}`);
  console.log(
    table([
      ['architecture', 'variant', 'threads', 'batch', 'images/s median', 'min', 'max', 'step ms median', 'steps'],
      ...r.figures.map((f) => [
        f.arch,
        f.variant,
        String(f.threads),
        String(f.batchSize),
        f.imagesPerSec.median.toFixed(1),
        f.imagesPerSec.min.toFixed(1),
        f.imagesPerSec.max.toFixed(1),
        f.stepMs.median.toFixed(0),
        String(f.stepMs.n),
      ]),
    ]),
  );
  console.log(`after:  ${r.uptimeAfter}; one-thread conv speed ${g(r.convGflops.after)}`);
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      arch: { type: 'string', default: 'seed-cnn,resnet' },
      batch: { type: 'string', default: '64' },
      rounds: { type: 'string', default: '5' },
      steps: { type: 'string', default: '2' },
      warmup: { type: 'string', default: '2' },
      variants: { type: 'string', default: 'wasm,wasm-data-parallel,wasm-xnnpack-threads' },
      workers: { type: 'string' },
      cpu: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const variants = values.variants.split(',').filter(Boolean) as TrainingVariant[];
  for (const v of variants)
    if (!(TRAINING_VARIANTS as readonly string[]).includes(v))
      throw new RangeError(`unknown variant ${v}; expected ${TRAINING_VARIANTS.join(', ')}`);
  if (values.cpu && !variants.includes('cpu')) variants.push('cpu');
  const result = await benchTraining({
    archs: values.arch.split(',') as Architecture[],
    batchSize: Number(values.batch),
    rounds: Number(values.rounds),
    stepsPerRound: Number(values.steps),
    warmupSteps: Number(values.warmup),
    variants,
    ...(values.workers === undefined ? {} : { workers: Number(values.workers) }),
    log: values.json ? undefined : (l) => console.error(l),
  });
  if (values.json) console.log(JSON.stringify(result));
  else printResult(result);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  tf.env().set('PROD', true);
  const child = process.argv.indexOf('--child-xnnpack');
  if (child >= 0) {
    await childMain(process.argv[child + 1] as Architecture, Number(process.argv[child + 2]), Number(process.argv[child + 3]));
  } else {
    await main(process.argv.slice(2));
    // The data-parallel workers are closed; nothing else should hold the event loop, but a stuck
    // XNNPACK child must not keep the benchmark alive either.
    process.exit(0);
  }
}
