/**
 * The server under test for the pipeline benchmarks (bench/pipeline.ts), in a process of its own: the
 * bundled model's engine behind the real `startServer`, wired as `soundee serve` wires it (one engine:
 * shared queues, level gate, event layer). Its limits are set by the same command-line options as
 * `soundee serve` (--max-connections, --max-subscribers, …; the benchmark raises them so that it finds
 * the machine's limit rather than the configured one). The parent talks to it over IPC:
 *
 *  - it sends `{ ready, port, backend, threads }` once it listens;
 *  - `{ cmd: 'stats' }` → memory, tensors, connections, listeners, batch sizes (after a GC when asked);
 *  - `{ cmd: 'events', count, rate }` → publishes `count` synthetic events at `rate`/s, each carrying
 *    its publish time (wall-clock ms) in `startMs`, then answers `{ published, publishMs }`, where
 *    `publishMs` is how long each publishEvent call took (the synchronous part of the fan-out:
 *    encoding, matching filters, handing the frame to every subscriber's socket);
 *  - `{ cmd: 'close' }` → closes the server and exits.
 *
 * `node --import tsx --expose-gc bench/server-child.ts [--backend auto|onnx|wasm|…] [--threads N] [serve's limit options]`
 * (the model and serving options are `soundee serve`'s own; without --threads, the engine's default,
 * as `soundee serve` without --threads)
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { Command } from 'commander';
import { type ModelCliOptions, engineOptionsOf, modelOptions } from '../src/cli/common.ts';
import { type ServerCliOptions, serverOptions, serverSettings } from '../src/cli/server-options.ts';
import { openEngine } from '../src/engine/engine.ts';
import { initBackend } from '../src/model/backend.ts';
import { Classifier } from '../src/model/classifier.ts';
import { OnnxEngine } from '../src/model/onnx/runtime.ts';
import { helloFor, startServer } from '../src/server/server.ts';
import { procKbBytes, wallMs } from './lib.ts';

export type ServerRequest = { cmd: 'stats'; gc?: boolean } | { cmd: 'events'; count: number; rate: number } | { cmd: 'close' };

export interface ServerStats {
  /** CPU time this process has used so far (user + system), ms. */
  cpuMs: number;
  rssBytes: number;
  /** The most RSS this process has had (VmHWM from /proc; undefined where there is no /proc). */
  peakRssBytes?: number;
  heapUsedBytes: number;
  /** V8's heap as committed (used or not): what its garbage collector keeps after a peak. */
  heapTotalBytes: number;
  externalBytes: number;
  arrayBuffersBytes: number;
  numTensors: number;
  tensorBytes: number;
  clients: number;
  ingestStreams: number;
  /** Listeners on `process` (all events). */
  processListeners: number;
  /** Active handles and requests (sockets, timers…), by type. */
  resources: Record<string, number>;
  inference: { batches: number; items: number; maxBatchSeen: number };
  render: { batches: number; items: number; maxBatchSeen: number };
  /** Server log lines (internal errors), the last 20. */
  logs: string[];
}

const send = (m: unknown) => process.send?.(m);

/** VmHWM of this process, bytes (Linux); undefined elsewhere. */
function peakRss(): number | undefined {
  try {
    const bytes = procKbBytes(readFileSync('/proc/self/status', 'utf8'), 'VmHWM');
    return Number.isNaN(bytes) ? undefined : bytes;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const cli = modelOptions(serverOptions(new Command(), { ingest: true }));
  const o = cli.parse(process.argv).opts<ModelCliOptions & ServerCliOptions>();
  // as `soundee serve` opens it (the backend first, silently: the child's stderr is the parent's log)
  const options = await engineOptionsOf(o);
  const backend = await initBackend(options.backend, null, options.threads === undefined ? {} : { threads: options.threads });
  const engine = await openEngine(options);
  const classifier = engine.model;
  const logs: string[] = [];
  const server = await startServer({
    ...serverSettings(o),
    port: 0,
    hello: () => helloFor(classifier),
    ingest: { engine },
    log: (l) => {
      logs.push(l);
      if (logs.length > 20) logs.shift();
    },
  });
  const stats = (): ServerStats => {
    const m = process.memoryUsage();
    const resources: Record<string, number> = {};
    for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
    const cpu = process.cpuUsage();
    return {
      cpuMs: (cpu.user + cpu.system) / 1000,
      rssBytes: m.rss,
      peakRssBytes: peakRss(),
      heapUsedBytes: m.heapUsed,
      heapTotalBytes: m.heapTotal,
      externalBytes: m.external,
      arrayBuffersBytes: m.arrayBuffers,
      numTensors: tf.memory().numTensors,
      tensorBytes: tf.memory().numBytes,
      clients: server.clientCount,
      ingestStreams: server.ingestStreams.length,
      processListeners: process.eventNames().reduce((n, e) => n + process.listenerCount(e), 0),
      resources,
      inference: { ...engine.inference.stats },
      render: { ...engine.render.stats },
      logs: [...logs],
    };
  };
  process.on('message', (req: ServerRequest) => {
    if (req.cmd === 'stats') {
      if (req.gc) (globalThis as { gc?: () => void }).gc?.();
      send({ stats: stats() });
    } else if (req.cmd === 'events') {
      let published = 0;
      const publishMs: number[] = [];
      const t = setInterval(() => {
        const t0 = performance.now();
        server.publishEvent({
          streamId: 'bench',
          label: classifier.classes[published % classifier.classes.length]!,
          phase: 'start',
          startMs: wallMs(),
          peakConfidence: 0.9,
          meanConfidence: 0.8,
        });
        publishMs.push(performance.now() - t0);
        if (++published >= req.count) {
          clearInterval(t);
          send({ published, publishMs });
        }
      }, 1000 / req.rate);
    } else if (req.cmd === 'close') {
      void server.close().then(() => {
        engine.dispose();
        process.exit(0);
      });
    }
  });
  process.on('disconnect', () => process.exit(0));
  const model = engine.model;
  const threads =
    model instanceof Classifier && model.engine instanceof OnnxEngine ? model.engine.threads : Math.max(1, options.threads ?? 1);
  send({ ready: true, port: server.port, backend, threads });
}

main().catch((e: unknown) => {
  send({ error: e instanceof Error ? e.message : String(e) });
  process.exit(1);
});
