/**
 * The HTTP front: every TCP connection comes in here. It admits connections by the per-address and
 * global limits before reading a byte (./admission.ts), gives each a deadline to deliver its request
 * or WebSocket handshake, serves the dashboard's files and `/v1/info`, checks access (token, Origin,
 * Host: ./access.ts) on every request and handshake, and routes accepted WebSocket upgrades to the
 * subscriber or ingest endpoint.
 */
import { type IncomingMessage, type ServerResponse, STATUS_CODES, createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { type ErrorCode, INFO_PATH, INGEST_PATH, STREAM_PATH } from '../protocol/index.ts';
import { type AccessPolicy, TOKEN_COOKIE, checkAccess } from './access.ts';
import { ConnectionGate, type Refusal, addressKey } from './admission.ts';
import { JSON_TYPE, errorBody, send } from './http-util.ts';
import { type StaticFile, loadStaticFiles } from './static.ts';

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** A raw HTTP error response with a JSON error body (for handshakes and connections the http module does not answer). */
function rawResponse(status: number, code: ErrorCode, message: string): string {
  const body = errorBody(code, message);
  const extra = status === 401 ? 'WWW-Authenticate: Bearer\r\n' : '';
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: ${JSON_TYPE}\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** Answers on a raw socket, then closes it once the answer is out. */
function answerAndClose(socket: Duplex, response: string): void {
  socket.on('error', () => {});
  socket.once('finish', () => socket.destroy());
  socket.end(response);
}

/** Which endpoint an upgrade goes to. */
export type EndpointKind = 'subscriber' | 'ingest';

export interface HttpFrontOptions {
  policy: AccessPolicy;
  /** The token, to set the dashboard's cookie when the page was opened with ?token=. */
  token: string | undefined;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  handshakeTimeoutMillis: number;
  /** Largest text message; ws refuses frames over 4× this on subscriber connections before they are buffered. */
  maxMessageBytes: number;
  /** Largest binary frame; likewise on ingest connections. */
  maxFrameBytes: number;
  publicDir: string | undefined;
  /** The hello, for /v1/info. */
  info: () => object;
  /** Whether the server is shutting down (new WebSockets are refused). */
  closing: () => boolean;
  /** Takes an accepted WebSocket. */
  onWebSocket: (kind: EndpointKind, ws: WebSocket, req: IncomingMessage, url: URL) => void;
  /** HTTP endpoints beyond the files and /v1/info (any method), answered once access is checked. */
  api?: {
    owns(path: string): boolean;
    handle(req: IncomingMessage, res: ServerResponse, url: URL, address: string): void;
  };
  log: (line: string) => void;
}

export class HttpFront {
  readonly http: HttpServer;
  readonly gate: ConnectionGate<Socket>;
  private readonly files: Map<string, StaticFile>;
  private readonly deadlines = new Map<Socket, NodeJS.Timeout>();
  /** Sockets turned away at accept time: whatever they send is ignored. */
  private readonly refused = new WeakSet<Socket>();
  private readonly wss: Record<EndpointKind, WebSocketServer>;

  constructor(private readonly o: HttpFrontOptions) {
    this.files = loadStaticFiles(o.publicDir);
    this.gate = new ConnectionGate(o.maxConnections, o.maxConnectionsPerAddress);
    const ws = (maxPayload: number) => new WebSocketServer({ noServer: true, maxPayload, perMessageDeflate: false, clientTracking: false });
    this.wss = { subscriber: ws(4 * o.maxMessageBytes), ingest: ws(4 * o.maxFrameBytes) };
    const t = o.handshakeTimeoutMillis;
    // node's own request deadlines back ours up (they are checked every connectionsCheckingInterval)
    this.http = createServer(
      { headersTimeout: t, requestTimeout: 2 * t, keepAliveTimeout: Math.min(5000, t), connectionsCheckingInterval: Math.min(1000, t) },
      (req, res) => this.onRequest(req, res),
    );
    this.http.on('connection', (socket: Socket) => this.onConnection(socket));
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket as Socket, head));
    this.http.on('clientError', (_e, socket: Socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  /** Listens; resolves with the bound address. */
  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => {
        this.http.off('error', reject);
        resolve(this.http.address() as AddressInfo);
      });
    });
  }

  /** Stops listening and closes every HTTP connection (WebSockets are the endpoints' to close first). */
  async close(): Promise<void> {
    const closed = new Promise<void>((r) => this.http.close(() => r()));
    this.http.closeAllConnections();
    for (const t of this.deadlines.values()) clearTimeout(t);
    this.deadlines.clear();
    await closed;
  }

  // ------------------------------------------------------------------ connections

  private onConnection(socket: Socket): void {
    const refusal = this.gate.admit(socket, addressKey(socket.remoteAddress));
    if (refusal) return this.turnAway(socket, refusal);
    socket.once('close', () => {
      this.gate.release(socket);
      this.clearDeadline(socket);
    });
    this.armDeadline(socket);
  }

  private turnAway(socket: Socket, r: Refusal): void {
    this.refused.add(socket);
    const message =
      r.scope === 'address'
        ? `this address has ${r.limit} connections open, the limit per address; close some and try again`
        : `the server has ${r.limit} connections open, its limit; try again later`;
    answerAndClose(socket, rawResponse(503, 'ERR_TOO_MANY_CONNECTIONS', message));
  }

  /** A socket must deliver its (next) request within the deadline, or it is closed. */
  private armDeadline(socket: Socket): void {
    this.clearDeadline(socket);
    const t = setTimeout(() => {
      this.deadlines.delete(socket);
      socket.destroy();
    }, this.o.handshakeTimeoutMillis);
    t.unref();
    this.deadlines.set(socket, t);
  }

  private clearDeadline(socket: Socket): void {
    const t = this.deadlines.get(socket);
    if (t === undefined) return;
    clearTimeout(t);
    this.deadlines.delete(socket);
  }

  /** The socket's request has arrived: it is busy (not evictable, no deadline) until answered. */
  private busy(socket: Socket): boolean {
    if (this.refused.has(socket)) {
      socket.destroy();
      return false;
    }
    this.clearDeadline(socket);
    this.gate.busy(socket);
    return true;
  }

  // ------------------------------------------------------------------ HTTP

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    if (!this.busy(socket)) return;
    res.once('close', () => {
      if (socket.destroyed) return;
      this.gate.markIdle(socket);
      this.armDeadline(socket);
    });
    try {
      this.serve(req, res);
    } catch (e) {
      this.o.log(`http: ${(e as Error).stack ?? String(e)}`);
      if (!res.headersSent) send(res, 500, JSON_TYPE, errorBody('ERR_INTERNAL', 'internal error'));
      else res.destroy();
    }
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const url = parseUrl(req);
    const api = url && this.o.api?.owns(url.pathname) ? this.o.api : undefined;
    if (!api && req.method !== 'GET' && req.method !== 'HEAD')
      return send(res, 405, JSON_TYPE, errorBody('ERR_METHOD', 'only GET and HEAD are served here'), { allow: 'GET, HEAD' });
    if (!url) return send(res, 404, JSON_TYPE, errorBody('ERR_NOT_FOUND', 'not found'));
    const access = checkAccess(req.headers, url, this.o.policy);
    if (!access.ok)
      return send(
        res,
        access.status,
        JSON_TYPE,
        errorBody(access.code, access.message),
        access.status === 401 ? { 'www-authenticate': 'Bearer' } : {},
      );
    // a page opened with ?token= keeps working for its own scripts and reloads: the token moves into a cookie
    const { token } = this.o;
    const cookie: Record<string, string> =
      access.tokenFrom === 'query' && token
        ? { 'set-cookie': `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/` }
        : {};
    if (api) {
      for (const [k, v] of Object.entries(cookie)) res.setHeader(k, v);
      return api.handle(req, res, url, addressKey(req.socket.remoteAddress));
    }
    if (url.pathname === INFO_PATH) return send(res, 200, JSON_TYPE, JSON.stringify(this.o.info()), cookie);
    const file = this.files.get(url.pathname);
    if (!file) return send(res, 404, JSON_TYPE, errorBody('ERR_NOT_FOUND', 'not found'));
    const csp: Record<string, string> = file.contentType.startsWith('text/html') ? { 'content-security-policy': CSP } : {};
    send(res, 200, file.contentType, file.body, { ...csp, ...cookie });
  }

  // ------------------------------------------------------------------ WebSocket upgrades

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    if (!this.busy(socket)) return;
    const url = parseUrl(req);
    if (!url) return answerAndClose(socket, rawResponse(404, 'ERR_NOT_FOUND', 'not found'));
    const path = url.pathname;
    const kind: EndpointKind | undefined =
      path === '/' || path === STREAM_PATH ? 'subscriber' : path === INGEST_PATH ? 'ingest' : undefined;
    if (!kind)
      return answerAndClose(
        socket,
        rawResponse(404, 'ERR_NOT_FOUND', `no WebSocket endpoint at ${path}; use ${STREAM_PATH} or ${INGEST_PATH}`),
      );
    if (this.o.closing()) return answerAndClose(socket, rawResponse(503, 'ERR_SHUTDOWN', 'the server is shutting down'));
    const access = checkAccess(req.headers, url, this.o.policy);
    if (!access.ok) return answerAndClose(socket, rawResponse(access.status, access.code, access.message));
    this.wss[kind].handleUpgrade(req, socket, head, (ws) => this.o.onWebSocket(kind, ws, req, url));
  }
}

function parseUrl(req: IncomingMessage): URL | undefined {
  try {
    return new URL(req.url ?? '/', 'http://localhost');
  } catch {
    return undefined;
  }
}
