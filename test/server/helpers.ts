/** Shared pieces of the server, client and dashboard tests: a tiny model, a server on port 0, WebSocket helpers. */
import { join } from 'node:path';
import net from 'node:net';
import WebSocket from 'ws';
import { initBackend } from '../../src/model/backend.ts';
import { Engine } from '../../src/engine/engine.ts';
import { type BatchQueue, Classifier } from '../../src/model/classifier.ts';
import { loadModel } from '../../src/model/io.ts';
import { type HelloInfo, type ServerOptions, type SoundeeServer, helloFor, startServer } from '../../src/server/server.ts';
import { tempDir, writeTinyModel } from '../helpers/fixtures.ts';

/** A loaded tiny model (fast, untrained), its engine and that engine's shared queue. */
export interface TestModel {
  classifier: Classifier;
  /** An engine on the model (default event settings), as `soundee serve` has one. */
  engine: Engine;
  queue: BatchQueue;
  /** A fresh engine on the same model (its own queues and statistics); the model stays the TestModel's. */
  newEngine(events?: ConstructorParameters<typeof Engine>[1]): Engine;
  hello: () => HelloInfo;
  dispose(): Promise<void>;
}

export async function tinyModel(classes = ['hum', 'hiss', 'tick']): Promise<TestModel> {
  await initBackend('wasm', null);
  const tmp = await tempDir();
  await writeTinyModel(join(tmp.dir, 'm'), classes);
  return fromDir(join(tmp.dir, 'm'), () => tmp.cleanup());
}

export async function fromDir(dir: string, cleanup: () => Promise<void> = async () => {}): Promise<TestModel> {
  await initBackend('wasm', null);
  const classifier = new Classifier(await loadModel(dir));
  classifier.warmUp();
  const newEngine = (o: ConstructorParameters<typeof Engine>[1] = {}) => new Engine(classifier, { ...o, ownsModel: false });
  const engine = newEngine();
  return {
    classifier,
    engine,
    queue: engine.inference,
    newEngine,
    hello: () => helloFor(classifier),
    async dispose() {
      classifier.dispose();
      await cleanup();
    },
  };
}

/** A server on a free port with ingest on the model; logs are collected instead of printed. */
export async function testServer(
  model: TestModel,
  options: Partial<ServerOptions> = {},
): Promise<SoundeeServer & { logs: string[]; url: string }> {
  const logs: string[] = [];
  const server = await startServer({ port: 0, hello: model.hello, ingest: { engine: model.engine }, log: (l) => logs.push(l), ...options });
  return Object.assign(server, { logs, url: `ws://127.0.0.1:${server.port}` });
}

/** A raw `ws` client that records every message and how it closed. */
export interface Probe {
  ws: WebSocket;
  messages: Record<string, unknown>[];
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves with the first message (already received or future) that satisfies `pred`. */
  next(pred: (m: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  ofType(type: string): Record<string, unknown>[];
}

export function probe(url: string, options: WebSocket.ClientOptions = {}): Probe {
  const ws = new WebSocket(url, options);
  const messages: Record<string, unknown>[] = [];
  const waiters: { pred: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }[] = [];
  ws.on('message', (d, isBinary) => {
    if (isBinary) return;
    const m = JSON.parse(d.toString()) as Record<string, unknown>;
    messages.push(m);
    for (const w of [...waiters])
      if (w.pred(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
  });
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((r) =>
    ws.on('close', (code, reason) => r({ code, reason: reason.toString() })),
  );
  return {
    ws,
    messages,
    closed,
    ofType: (type) => messages.filter((m) => m.type === type),
    next(pred, timeoutMs = 10_000) {
      const found = messages.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(messages.map((m) => m.type))}`)),
          timeoutMs,
        );
        waiters.push({
          pred,
          resolve: (m) => {
            clearTimeout(t);
            resolve(m);
          },
        });
      });
    },
  };
}

/** Resolves once the socket is open. */
export const opened = (ws: WebSocket): Promise<void> =>
  new Promise((resolve, reject) =>
    ws.readyState === WebSocket.OPEN ? resolve() : (ws.once('open', () => resolve()), ws.once('error', reject)),
  );

/** The HTTP status a refused WebSocket handshake gets (rejects if the handshake succeeds). */
export function handshakeStatus(url: string, options: WebSocket.ClientOptions = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
        ws.terminate();
      });
    });
    ws.on('open', () => {
      ws.terminate();
      reject(new Error('the handshake succeeded'));
    });
    ws.on('error', () => {});
  });
}

/** A TCP proxy in front of a port whose connections the test can cut (a network drop). */
export async function dropProxy(targetPort: number): Promise<{ port: number; refusing: boolean; cut(): void; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (proxy.refusing) return void client.destroy();
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const proxy = {
    /** While true, new connections are dropped at once (the server looks down). */
    refusing: false,
    port: (server.address() as net.AddressInfo).port,
    cut() {
      for (const s of sockets) s.destroy();
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
  return proxy;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits until `cond()` holds (polling), or fails after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
