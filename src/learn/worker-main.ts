/** The worker side of ./worker.ts: one job, then the worker is terminated. */
import { parentPort } from 'node:worker_threads';
import { initBackend } from '../model/backend.ts';
import { learnClass, removeClass } from './model-dir.ts';
import type { FromLearnWorker, LearnJob } from './worker.ts';

const port = parentPort;
if (port === null) throw new Error('worker-main.ts must run in a worker thread');
const say = (m: FromLearnWorker) => port.postMessage(m);

port.once('message', async (job: LearnJob) => {
  try {
    // training's setting: tfjs only, one XNNPACK thread (the server's threads keep serving)
    await initBackend(job.backend, null, { purpose: 'training' });
    const result =
      job.kind === 'learn'
        ? await learnClass({ ...job.request, onProgress: (stage, fraction) => say({ type: 'progress', stage, fraction }) })
        : await removeClass(job.model, job.out, job.label);
    say({ type: 'done', result });
  } catch (e) {
    const err = e as Error & { code?: unknown };
    say({
      type: 'error',
      message: err.message ?? String(e),
      ...(typeof err.code === 'string' ? { code: err.code } : {}),
      ...(err.stack ? { stack: err.stack } : {}),
    });
  }
});
