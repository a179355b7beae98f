/**
 * The WebSocket server: every client gets a `hello` (protocol version, model, classes, feature config)
 * and then the JSON messages the pipeline publishes.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { type FeatureConfig } from '../config.ts';

export const PROTOCOL_VERSION = 1;

export interface HelloInfo {
  model: { name: string; architecture: string };
  classes: readonly string[];
  features: FeatureConfig;
  confidenceThreshold: number;
  streams: string[];
}

export interface ServerOptions {
  /** Interface to bind. Default 127.0.0.1 (local only). */
  host?: string;
  /** Port; 0 picks a free one. Default 8080. */
  port?: number;
  hello: () => HelloInfo;
}

/** A running server. */
export interface SoundeeServer {
  readonly port: number;
  readonly host: string;
  /** Sends a message (serialised once) to every connected client. */
  publish(message: { type: string } & Record<string, unknown>): void;
  readonly clientCount: number;
  close(): Promise<void>;
}

/** Starts the HTTP + WebSocket server; resolves once it listens. */
export async function startServer({ host = '127.0.0.1', port = 8080, hello }: ServerOptions): Promise<SoundeeServer> {
  const http: HttpServer = createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  const wss = new WebSocketServer({ server: http, maxPayload: 64 * 1024 });
  wss.on('connection', (ws) => {
    ws.send(JSON.stringify({ type: 'hello', protocolVersion: PROTOCOL_VERSION, ...hello() }));
    ws.on('error', () => ws.terminate());
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  const addr = http.address() as AddressInfo;
  return {
    port: addr.port,
    host,
    get clientCount() {
      return wss.clients.size;
    },
    publish(message) {
      const data = JSON.stringify(message);
      for (const c of wss.clients) if (c.readyState === WebSocket.OPEN) c.send(data);
    },
    async close() {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}
