/**
 * Learning and removing classes in a worker thread, so that a server keeps serving while a class is
 * learned: rendering the augmented copies, embedding them and fitting the row take seconds of CPU
 * that would otherwise hold its event loop (and every live stream with it). One worker per job: it
 * brings up TensorFlow.js on the parent's tfjs backend, runs `learnClass` or `removeClass`, reports
 * progress, answers and exits. The model directories are its only output.
 */
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { SoundeeError } from '../config.ts';
import type { BackendChoice } from '../model/backend.ts';
import type { LearnReport, LearnRequest } from './model-dir.ts';

/** What a worker is asked to do. */
export type LearnJob =
  | { kind: 'learn'; backend: BackendChoice; request: Omit<LearnRequest, 'onProgress'> }
  | { kind: 'remove'; backend: BackendChoice; model: string; out: string; label: string };

/** What a worker says. */
export type FromLearnWorker =
  | { type: 'progress'; stage: string; fraction: number }
  | { type: 'done'; result: LearnReport | string[] }
  | { type: 'error'; code?: string; message: string; stack?: string };

/** Options of the worker jobs. */
export interface WorkerJobOptions {
  /** Hears what is being done and the share done (learning only). */
  onProgress?: (stage: string, fraction: number) => void;
  /** Ends the job (the worker is terminated; the job rejects with ERR_ABORTED). */
  signal?: AbortSignal;
}

/** The tfjs backend this process runs, as a backend choice for the worker (it never runs onnx: it trains). */
function parentBackend(): BackendChoice {
  const name = tf.getBackend();
  return name === 'tensorflow' ? 'node' : name === 'cpu' ? 'cpu' : 'wasm';
}

/**
 * Learns a class in a worker thread (see `learnClass`: the same request, the same report and errors).
 * @throws SoundeeError with learnClass's codes; ERR_ABORTED when `signal` ended it; ERR_LEARN_WORKER when the worker died.
 */
export function learnInWorker(request: Omit<LearnRequest, 'onProgress'>, o: WorkerJobOptions = {}): Promise<LearnReport> {
  return run({ kind: 'learn', backend: parentBackend(), request }, o) as Promise<LearnReport>;
}

/** Removes a learned class in a worker thread (see `removeClass`); resolves with the classes left. */
export function removeInWorker(model: string, out: string, label: string, o: WorkerJobOptions = {}): Promise<string[]> {
  return run({ kind: 'remove', backend: parentBackend(), model, out, label }, o) as Promise<string[]>;
}

function startWorker(): Worker {
  const here = import.meta.url;
  const isTs = here.endsWith('.ts');
  const entry = new URL(isTs ? './worker-main.ts' : './worker-main.js', here).href;
  // workers do not inherit a loader registered with tsx's register() (bin/soundee.js does that): the
  // worker registers tsx itself before importing the TypeScript entry point
  const source = isTs
    ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`
    : `import(${JSON.stringify(entry)})`;
  return new Worker(
    `${source}.catch((e) => { require('node:worker_threads').parentPort.postMessage({ type: 'error', message: String((e && e.stack) || e) }); });`,
    { eval: true, execArgv: [] },
  );
}

function run(job: LearnJob, { onProgress, signal }: WorkerJobOptions): Promise<LearnReport | string[]> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new SoundeeError('ERR_ABORTED', 'the job was cancelled'));
    const worker = startWorker();
    let settled = false;
    const finish = (f: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', abort);
      void worker.terminate();
      f();
    };
    const abort = () => finish(() => reject(new SoundeeError('ERR_ABORTED', 'the job was cancelled')));
    signal?.addEventListener('abort', abort, { once: true });
    worker.on('message', (m: FromLearnWorker) => {
      if (m.type === 'progress') onProgress?.(m.stage, m.fraction);
      else if (m.type === 'done') finish(() => resolve(m.result));
      else finish(() => reject(m.code ? new SoundeeError(m.code, m.message) : new SoundeeError('ERR_LEARN_WORKER', m.message)));
    });
    worker.on('error', (e) => finish(() => reject(new SoundeeError('ERR_LEARN_WORKER', `the learning worker failed: ${e.message}`))));
    worker.on('exit', (code) =>
      finish(() => reject(new SoundeeError('ERR_LEARN_WORKER', `the learning worker exited (code ${code}) before it answered`))),
    );
    worker.postMessage(job);
  });
}
