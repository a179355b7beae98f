/**
 * What the subscriber client and the ingest helper share: URL building, the handshake (with the
 * server's JSON error on refusal), and the client-side error type.
 */
import WebSocket from 'ws';
import type { ErrorCode } from '../protocol/index.ts';

/**
 * An error from the server or the connection. `code` is a protocol error code (ERR_UNAUTHORIZED,
 * ERR_UNSUPPORTED_RATE, …) or ERR_CONNECTION for network failures; `closeCode` and `status` say
 * how the server ended the connection or refused the handshake.
 */
export class SoundeeClientError extends Error {
  constructor(
    readonly code: ErrorCode | 'ERR_CONNECTION' | 'ERR_CLOSED',
    message: string,
    readonly details: { closeCode?: number; status?: number; streamId?: string } = {},
  ) {
    super(message);
    this.name = 'SoundeeClientError';
  }
}

/** `ws://host:port`, `http://host:port/…` → the WebSocket URL of `path` with `query`. */
export function endpointUrl(base: string, path: string, query: Record<string, string | readonly string[] | undefined> = {}): URL {
  const u = new URL(base);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new TypeError(`expected a ws://, wss://, http:// or https:// URL, got ${base}`);
  u.pathname = path;
  u.search = '';
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    for (const item of typeof v === 'string' ? [v] : v) u.searchParams.append(k, item);
  }
  return u;
}

/** The HTTP URL of `path` on the server of `base`. */
export function httpUrl(base: string, path: string): URL {
  const u = new URL(base);
  if (u.protocol === 'ws:') u.protocol = 'http:';
  else if (u.protocol === 'wss:') u.protocol = 'https:';
  u.pathname = path;
  u.search = '';
  return u;
}

export interface SocketOptions {
  token?: string;
  /** Extra handshake headers (e.g. Origin when testing the allow-list). */
  headers?: Record<string, string>;
}

/**
 * Opens a WebSocket; resolves once open. A refused handshake rejects with the server's error code
 * (from its JSON body) and HTTP status.
 * @param prepare called with the socket before it connects: attach message handlers here, because
 *   messages that arrive with the handshake are emitted before a promise continuation could attach them.
 */
export function openSocket(url: URL, { token, headers = {} }: SocketOptions = {}, prepare?: (ws: WebSocket) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      perMessageDeflate: false,
    });
    prepare?.(ws);
    const onError = (e: Error) => reject(new SoundeeClientError('ERR_CONNECTION', `cannot connect to ${url.origin}: ${e.message}`));
    ws.on('error', onError);
    ws.once('open', () => {
      ws.off('error', onError);
      // the caller adds its own handlers; until then an error must not crash the process
      ws.on('error', () => {});
      resolve(ws);
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d.length < 4096 ? d : ''));
      res.on('end', () => {
        let code: ErrorCode | 'ERR_CONNECTION' = 'ERR_CONNECTION';
        let message = `the server refused the connection (HTTP ${res.statusCode})`;
        try {
          const e = JSON.parse(body) as { code?: ErrorCode; message?: string };
          if (e.code) code = e.code;
          if (e.message) message = e.message;
        } catch {
          // not our JSON: keep the generic message
        }
        reject(new SoundeeClientError(code, message, { ...(res.statusCode !== undefined ? { status: res.statusCode } : {}) }));
        ws.terminate();
      });
    });
  });
}

/** Close codes after which trying again cannot help (the client sent something wrong). */
export const PERMANENT_CLOSE_CODES: ReadonlySet<number> = new Set([1003, 1007, 1008, 1009]);
/** Handshake statuses after which trying again cannot help. */
export const PERMANENT_STATUSES: ReadonlySet<number> = new Set([400, 401, 403, 404, 405]);
