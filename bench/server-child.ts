/**
 * The server under test for the pipeline benchmarks (bench/pipeline.ts), in a process of its own: the
 * bundled model behind the real `startServer`, wired as `soundee serve` wires it (shared BatchQueue,
 * level gate, event layer), with the connection and stream limits raised so that the benchmark finds
 * the machine's limit rather than the configured one. The parent talks to it over IPC:
 *
 *  - it sends `{ ready, port, backend, threads }` once it listens;
 *  - `{ cmd: 'stats' }` → memory, tensors, connections, listeners, batch sizes (after a GC when asked);
 *  - `{ cmd: 'events', count, rate }` → publishes `count` synthetic events at `rate`/s, each carrying
 *    its publish time (wall-clock ms) in `startMs`, then answers `{ published }`;
 *  - `{ cmd: 'close' }` → closes the server and exits.
 *
 * `node --import tsx --expose-gc bench/server-child.ts [--backend auto|onnx|wasm|…] [--threads N]` (threads 0 or
 * absent: the engine's default, as `soundee serve` without --threads)
 */
import * as tf from '@tensorflow/tfjs';
import { detectEvents, gateQuietWindows } from '../src/events/operators.ts';
import { type BackendChoice, initBackend } from '../src/model/backend.ts';
import { BatchQueue, Classifier } from '../src/model/classifier.ts';
import { loadModel } from '../src/model/io.ts';
import { OnnxEngine } from '../src/model/onnx/runtime.ts';
import { DEFAULT_MODEL_DIR } from '../src/paths.ts';
import { helloFor, startServer } from '../src/server/server.ts';
import { renderQueueFor } from '../src/stream/operators.ts';
import { wallMs } from './lib.ts';

export type ServerRequest = { cmd: 'stats'; gc?: boolean } | { cmd: 'events'; count: number; rate: number } | { cmd: 'close' };

export interface ServerStats {
  /** CPU time this process has used so far (user + system), ms. */
  cpuMs: number;
  rssBytes: number;
  heapUsedBytes: number;
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

async function main(): Promise<void> {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const wanted = Number(arg('--threads') ?? 0);
  const backend = await initBackend(arg('--backend') as BackendChoice | undefined, null, wanted > 0 ? { threads: wanted } : {});
  const classifier = new Classifier(await loadModel(DEFAULT_MODEL_DIR));
  classifier.warmUp();
  const queue = new BatchQueue(classifier);
  const logs: string[] = [];
  const server = await startServer({
    port: 0,
    hello: () => helloFor(classifier),
    ingest: {
      queue,
      postprocess: () => gateQuietWindows(),
      events: () => detectEvents(classifier.classes, { backgroundClasses: classifier.backgroundClasses }),
    },
    maxConnections: 20_000,
    maxStreams: 4096,
    maxStreamsPerClient: 4096,
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
      heapUsedBytes: m.heapUsed,
      externalBytes: m.external,
      arrayBuffersBytes: m.arrayBuffers,
      numTensors: tf.memory().numTensors,
      tensorBytes: tf.memory().numBytes,
      clients: server.clientCount,
      ingestStreams: server.ingestStreams.length,
      processListeners: process.eventNames().reduce((n, e) => n + process.listenerCount(e), 0),
      resources,
      inference: { ...queue.stats },
      render: { ...renderQueueFor(classifier.features).stats },
      logs: [...logs],
    };
  };
  process.on('message', (req: ServerRequest) => {
    if (req.cmd === 'stats') {
      if (req.gc) (globalThis as { gc?: () => void }).gc?.();
      send({ stats: stats() });
    } else if (req.cmd === 'events') {
      let published = 0;
      const t = setInterval(() => {
        server.publishEvent({
          streamId: 'bench',
          label: classifier.classes[published % classifier.classes.length]!,
          phase: 'start',
          startMs: wallMs(),
          peakConfidence: 0.9,
          meanConfidence: 0.8,
        });
        if (++published >= req.count) {
          clearInterval(t);
          send({ published });
        }
      }, 1000 / req.rate);
    } else if (req.cmd === 'close') {
      void server.close().then(() => {
        classifier.dispose();
        process.exit(0);
      });
    }
  });
  process.on('disconnect', () => process.exit(0));
  const threads = classifier.engine instanceof OnnxEngine ? classifier.engine.threads : Math.max(1, wanted);
  send({ ready: true, port: server.port, backend, threads });
}

main().catch((e: unknown) => {
  send({ error: e instanceof Error ? e.message : String(e) });
  process.exit(1);
});
