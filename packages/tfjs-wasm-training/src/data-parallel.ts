/**
 * Data-parallel training on several cores with the tfjs WASM backend.
 *
 * The WASM backend computes on one thread. {@link DataParallelTrainer} splits each batch between the
 * calling thread and `replicas - 1` worker threads, each running its own WASM backend on a copy of
 * the model; gradients and weights are exchanged through SharedArrayBuffers, and each replica applies
 * Adam to its share of the weights (see replica.ts). Unlike XNNPACK's own threadpool (threads.ts),
 * which only parallelises the matrix products, this parallelises the whole step — copies,
 * element-wise ops, pooling gradients, the optimizer — and measured faster on this 2-core machine
 * (bench/training.ts).
 *
 * The calling thread's model is the authoritative one: it is current whenever `trainOnBatch` has
 * resolved, and can be evaluated, saved or copied as usual. A step computes what
 * `model.trainOnBatch` computes for a model compiled with Adam, categorical cross-entropy and the
 * accuracy metric (the model's own compile settings are not used; regularisation losses are not
 * supported), except for batch normalisation: each replica normalises with its own shard's
 * statistics (as PyTorch DDP without SyncBatchNorm does), and the moving statistics are averaged
 * over the replicas after every step.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { type WasmTrainingKernelOptions, registerWasmTrainingKernels } from './kernels.ts';
import { type AdamConfig, Replica, type SharedBuffers, allocateShared, storeWeights, type ShardResult } from './replica.ts';

/** Options for {@link DataParallelTrainer.create}. */
export interface DataParallelOptions {
  /** Adam hyper-parameters (the trainer owns the optimizer; `model.compile` is not needed). */
  adam: AdamConfig;
  /**
   * Replicas including the calling thread, >= 1 (default: `os.availableParallelism()`, at most 8).
   * 1 trains on the calling thread only, through the same code path.
   */
  replicas?: number;
  /** Passed to `registerWasmTrainingKernels` in the workers (and on this thread, if not yet registered). */
  kernelOptions?: WasmTrainingKernelOptions;
  /**
   * 'adaptive' (default) sizes each replica's shard by its measured speed in the previous steps, so
   * that a core shared with other work holds the others up less; 'even' splits batches equally.
   */
  balance?: 'adaptive' | 'even';
}

/** Phases of one step on the calling thread, in milliseconds. */
export interface StepTimings {
  /** Forward and backward pass on this thread's shard. */
  computeMs: number;
  /** Waiting for the workers' gradients. */
  waitGradsMs: number;
  /** This thread's share of the optimizer update, then waiting for the workers' shares. */
  updateMs: number;
  /** Copying the new weights into this thread's model. */
  loadMs: number;
  /** Examples per replica, this thread's first. */
  shards: number[];
  /** Each replica's compute time (workers: including loading weights), this thread's first. */
  replicaMs: number[];
}

/** Messages from the main thread to a worker. */
export type ToWorker =
  | {
      type: 'init';
      modelTopology: unknown;
      shared: SharedBuffers;
      index: number;
      replicas: number;
      adam: AdamConfig;
      kernelOptions: WasmTrainingKernelOptions;
    }
  | { type: 'step'; batchSize: number; xs: Float32Array | null; xsShape: number[]; ys: Float32Array | null; ysShape: number[] }
  | { type: 'update'; learningRate: number }
  | { type: 'getWeights' };

/** Messages from a worker to the main thread. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'grads'; lossSum: number; correct: number; ms: number }
  | { type: 'updated' }
  | { type: 'weights'; weights: { shape: number[]; data: Float32Array }[] }
  | { type: 'error'; message: string };

interface Helper {
  worker: Worker;
  /** Resolvers of the replies not yet received, in order (a worker answers its messages in order). */
  pending: { resolve: (m: FromWorker) => void; reject: (e: Error) => void }[];
  failed: Error | null;
}

/** Trains a model on the WASM backend with one replica per core. */
export class DataParallelTrainer {
  private closed = false;
  /** Examples per millisecond of each replica (exponential moving average), for 'adaptive'. */
  private readonly speeds: number[];
  /** Adam learning rate, used from the next step on (set it for learning-rate schedules). */
  learningRate: number;
  /** Where the calling thread spent the last step, in ms, and the examples each replica got. */
  lastStep: StepTimings | null = null;

  private constructor(
    /** The calling thread's model (replica 0), updated in place by every step. */
    readonly model: tf.LayersModel,
    private readonly replica: Replica,
    private readonly helpers: Helper[],
    private readonly shared: SharedBuffers,
    learningRate: number,
    private readonly adaptive: boolean,
  ) {
    this.learningRate = learningRate;
    this.speeds = new Array<number>(helpers.length + 1).fill(0);
  }

  /** Number of replicas, including the calling thread. */
  get replicas(): number {
    return this.helpers.length + 1;
  }

  /**
   * Starts the workers and copies `model` (topology and current weights) into each. Call with the
   * WASM backend active; registers the training kernels on this thread if that has not been done.
   * @param model a LayersModel with float32 weights, built on this thread; it need not be compiled.
   * @throws RangeError for a replica count outside 1..64; Error when the active backend is not
   *   'wasm' or a worker fails to start.
   */
  static async create(model: tf.LayersModel, options: DataParallelOptions): Promise<DataParallelTrainer> {
    const replicas = options.replicas ?? Math.min(8, os.availableParallelism());
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > 64) {
      throw new RangeError(`replicas must be an integer in 1..64, got ${replicas}`);
    }
    if (tf.getBackend() !== 'wasm') throw new Error(`DataParallelTrainer needs the wasm backend active, not ${tf.getBackend()}`);
    registerWasmTrainingKernels(options.kernelOptions);
    const shared = allocateShared(model, replicas);
    const replica = new Replica(model, 0, replicas, shared, options.adam);
    const modelTopology = model.toJSON(null, false);
    const helpers: Helper[] = [];
    try {
      for (let index = 1; index < replicas; index++) helpers.push(startWorker());
      await Promise.all(
        helpers.map((h, i) =>
          request(h, {
            type: 'init',
            modelTopology,
            shared,
            index: i + 1,
            replicas,
            adam: options.adam,
            kernelOptions: options.kernelOptions ?? {},
          }),
        ),
      );
    } catch (e) {
      await Promise.all(helpers.map((h) => h.worker.terminate()));
      throw e;
    }
    return new DataParallelTrainer(
      model,
      replica,
      helpers,
      shared,
      options.adam.learningRate,
      (options.balance ?? 'adaptive') === 'adaptive',
    );
  }

  /**
   * One optimizer step on a batch split across the replicas, like `model.trainOnBatch` with
   * categorical cross-entropy and an accuracy metric.
   * @param xs inputs [batch, ...]; not disposed.
   * @param ys targets [batch, classes] (one-hot or smoothed); not disposed.
   * @returns [mean loss, accuracy] over the batch.
   * @throws Error when the trainer is closed, the shapes disagree, or a worker failed.
   */
  async trainOnBatch(xs: tf.Tensor, ys: tf.Tensor): Promise<[number, number]> {
    if (this.closed) throw new Error('DataParallelTrainer is closed');
    const batch = xs.shape[0] ?? 0;
    if (batch < 1 || ys.shape[0] !== batch) throw new Error(`batch sizes of xs [${xs.shape}] and ys [${ys.shape}] must agree and be > 0`);
    const known = this.adaptive && this.speeds.every((v) => v > 0);
    const bounds = shardBounds(batch, known ? this.speeds : this.speeds.map(() => 1));
    const xRow = xs.size / batch;
    const yRow = ys.size / batch;
    let replies: Promise<FromWorker>[] = [];
    if (this.helpers.length > 0) {
      const xData = xs.dataSync() as Float32Array;
      const yData = ys.dataSync() as Float32Array;
      replies = this.helpers.map((h, i) => {
        const [from, to] = bounds[i + 1] as [number, number];
        const n = to - from;
        return request(h, {
          type: 'step',
          batchSize: batch,
          xs: n > 0 ? xData.slice(from * xRow, to * xRow) : null,
          xsShape: [n, ...xs.shape.slice(1)],
          ys: n > 0 ? yData.slice(from * yRow, to * yRow) : null,
          ysShape: [n, ...ys.shape.slice(1)],
        });
      });
    }
    const [, mine] = bounds[0] as [number, number];
    const own = tf.tidy(() => [tf.slice(xs, 0, mine), tf.slice(ys, 0, mine)] as const);
    let total: ShardResult;
    const t0 = performance.now();
    try {
      total = this.replica.computeGradients(own[0], own[1], batch);
    } finally {
      tf.dispose([...own]);
    }
    const t1 = performance.now();
    const times = [t1 - t0];
    for (const reply of await Promise.all(replies)) {
      if (reply.type !== 'grads') throw new Error(`unexpected worker reply ${reply.type}`);
      total = { lossSum: total.lossSum + reply.lossSum, correct: total.correct + reply.correct };
      times.push(reply.ms);
    }
    bounds.forEach(([from, to], r) => {
      const ms = times[r] as number;
      if (to > from && ms > 0) {
        const v = (to - from) / ms;
        const old = this.speeds[r] as number;
        this.speeds[r] = old > 0 ? 0.7 * old + 0.3 * v : v;
      }
    });
    const t2 = performance.now();
    const updated = this.helpers.map((h) => request(h, { type: 'update', learningRate: this.learningRate }));
    this.replica.update(this.learningRate);
    await Promise.all(updated);
    const t3 = performance.now();
    this.replica.loadWeights();
    this.lastStep = {
      computeMs: t1 - t0,
      waitGradsMs: t2 - t1,
      updateMs: t3 - t2,
      loadMs: performance.now() - t3,
      shards: bounds.map(([from, to]) => to - from),
      replicaMs: times,
    };
    return [total.lossSum / batch, total.correct / batch];
  }

  /**
   * Makes the calling thread's current weights the replicas' weights (call after `model.setWeights`
   * between steps); Adam's moments are kept.
   */
  syncWeights(): void {
    storeWeights(this.model, new Float32Array(this.shared.weights));
  }

  /** Each worker's weights after loading the shared ones, for checking that the replicas agree. */
  async workerWeights(): Promise<Float32Array[][]> {
    const replies = await Promise.all(this.helpers.map((h) => request(h, { type: 'getWeights' })));
    return replies.map((r) => (r.type === 'weights' ? r.weights.map((w) => w.data) : []));
  }

  /** Stops the workers; the calling thread's model stays usable. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.helpers.map((h) => h.worker.terminate()));
  }
}

/**
 * Splits `batch` examples into [from, to) ranges, one per replica (the calling thread's first), in
 * proportion to `weights` (largest remainders first, ties to the earlier replica). While there are
 * at least as many examples as replicas every replica gets one, so that its speed stays measured.
 */
export function shardBounds(batch: number, weights: readonly number[]): [number, number][] {
  const total = weights.reduce((a, b) => a + b, 0);
  const minimum = batch >= weights.length ? 1 : 0;
  const spare = batch - minimum * weights.length;
  const exact = weights.map((w) => (total > 0 ? (spare * w) / total : spare / weights.length));
  const sizes = exact.map((e) => Math.floor(e) + minimum);
  let left = batch - sizes.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => [e - Math.floor(e), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (left-- <= 0) break;
    sizes[i] = (sizes[i] as number) + 1;
  }
  let from = 0;
  return sizes.map((n) => {
    const range: [number, number] = [from, from + n];
    from += n;
    return range;
  });
}

function startWorker(): Helper {
  const here = import.meta.url;
  const isTs = here.endsWith('.ts');
  const entry = new URL(isTs ? './data-parallel-worker.ts' : './data-parallel-worker.js', here).href;
  // Workers do not inherit a loader registered with tsx's register() (bin/soundee.js does that), so
  // the worker registers tsx itself before importing the TypeScript entry point.
  const source = isTs
    ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`
    : `import(${JSON.stringify(entry)})`;
  const worker = new Worker(
    `${source}.catch((e) => { require('node:worker_threads').parentPort.postMessage({ type: 'error', message: String((e && e.stack) || e) }); });`,
    { eval: true, execArgv: [] },
  );
  const helper: Helper = { worker, pending: [], failed: null };
  const fail = (e: Error) => {
    helper.failed ??= e;
    for (const p of helper.pending.splice(0)) p.reject(e);
  };
  // Idle workers must not keep the process alive (a caller that forgets close() should still
  // exit), so a worker is referenced only while a reply is outstanding.
  worker.unref();
  worker.on('message', (m: FromWorker) => {
    if (m.type === 'error') return fail(new Error(`data-parallel worker failed: ${m.message}`));
    helper.pending.shift()?.resolve(m);
    if (helper.pending.length === 0) worker.unref();
  });
  worker.on('error', (e) => fail(e instanceof Error ? e : new Error(String(e))));
  worker.on('exit', (code) => fail(new Error(`data-parallel worker exited (code ${code})`)));
  return helper;
}

function request(h: Helper, m: ToWorker): Promise<FromWorker> {
  return new Promise((resolve, reject) => {
    if (h.failed) return reject(h.failed);
    h.pending.push({ resolve, reject });
    h.worker.ref();
    h.worker.postMessage(m);
  });
}
