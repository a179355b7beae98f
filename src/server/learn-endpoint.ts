/**
 * The teaching endpoints over plain HTTP, behind the HTTP front's access checks (token, Origin, Host,
 * connection limits): `GET /v1/classes`, `POST /v1/learn` (JSON), `POST /v1/clip` (a WAV file: its
 * preview) and `DELETE /v1/classes/<label>`. Requests that send data are rate-limited per address;
 * bodies are limited in size and type before a byte is decoded; learning and removing run one at a
 * time (the second is refused at once, before its body is read). Errors are the protocol's error
 * bodies with stable codes and the HTTP status of the code (docs/protocol.md).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SoundeeError } from '../config.ts';
import {
  CLASSES_PATH,
  CLIP_PATH,
  ERROR_CODES,
  type ErrorCode,
  LEARN_PATH,
  type LearnRequestBody,
  validateHttpBody,
} from '../protocol/index.ts';
import { TokenBucket } from '../util/token-bucket.ts';
import { JSON_TYPE, errorBody, send } from './http-util.ts';
import type { Teacher } from './teacher.ts';

/** A refusal, with its protocol code. */
class Refusal extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The library's error codes that are the protocol's own; others are mapped (or internal). */
const MAPPED: Readonly<Record<string, ErrorCode>> = {
  ERR_LEARN_BANK: 'ERR_LEARN_MODEL',
  ERR_ABORTED: 'ERR_SHUTDOWN',
};

const WAV_TYPES = ['audio/wav', 'audio/x-wav', 'audio/wave', 'audio/vnd.wave', 'application/octet-stream'];

/** Whether a path is one of the teaching endpoints'. */
export function isTeachPath(path: string): boolean {
  return path === LEARN_PATH || path === CLIP_PATH || path === CLASSES_PATH || path.startsWith(`${CLASSES_PATH}/`);
}

export interface LearnEndpointOptions {
  /** Requests that send data, per second per address (bursts of twice that). */
  maxRequestsPerSecond: number;
  /** Largest POST /v1/learn body. */
  maxBodyBytes: number;
  /** Largest POST /v1/clip body. */
  maxClipBytes: number;
  /** Server-side details of failures (never sent to clients). */
  log: (line: string) => void;
}

export class LearnEndpoint {
  private readonly buckets = new Map<string, TokenBucket>();

  /** @param teacher undefined: the server does not learn (every route answers ERR_LEARN_DISABLED). */
  constructor(
    private readonly teacher: Teacher | undefined,
    private readonly o: LearnEndpointOptions,
  ) {}

  /** Answers a request to one of the teaching paths (`isTeachPath`); the front has checked access. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL, address: string): void {
    this.route(req, res, url, address).catch((e: unknown) => this.fail(res, e));
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL, address: string): Promise<void> {
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const allow = path === CLASSES_PATH ? ['GET', 'HEAD'] : path.startsWith(`${CLASSES_PATH}/`) ? ['DELETE'] : ['POST'];
    if (!allow.includes(method)) return this.refuse(res, 'ERR_METHOD', `${path} takes ${allow.join(', ')}`, { allow: allow.join(', ') });
    const teacher = this.teacher;
    if (!teacher)
      throw new Refusal(
        'ERR_LEARN_DISABLED',
        'this server does not learn classes (it was started with --no-learn, or without a model directory)',
      );
    if (method === 'GET' || method === 'HEAD') return send(res, 200, JSON_TYPE, JSON.stringify(await teacher.classes()));
    if (!this.take(address))
      throw new Refusal('ERR_RATE_LIMIT', `more than ${this.o.maxRequestsPerSecond} teaching requests per second from this address`);
    if (path === CLIP_PATH) {
      const [startMs, endMs] = [millis(url, 'startMs'), millis(url, 'endMs')];
      const wav = await readBody(req, this.o.maxClipBytes, WAV_TYPES);
      const body = await teacher.preview(wav, {
        ...(startMs === undefined ? {} : { startMs }),
        ...(endMs === undefined ? {} : { endMs }),
      });
      return send(res, 200, JSON_TYPE, JSON.stringify(body));
    }
    const busy = teacher.busy;
    if (busy)
      throw new Refusal(
        'ERR_LEARN_BUSY',
        `the server is ${busy.action === 'learn' ? 'learning' : 'removing'} "${busy.label}"; try again when it is done`,
      );
    if (method === 'DELETE') {
      let label: string;
      try {
        label = decodeURIComponent(path.slice(CLASSES_PATH.length + 1));
      } catch {
        throw new Refusal('ERR_BAD_PARAMS', 'the label in the path is not valid percent-encoding');
      }
      return send(res, 200, JSON_TYPE, JSON.stringify(await teacher.remove(label)));
    }
    const raw = await readBody(req, this.o.maxBodyBytes, ['application/json']);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new Refusal('ERR_BAD_MESSAGE', 'the body is not JSON: send {"label": …, "examples": [{"wav": <base64 WAV>}, …]}');
    }
    const v = validateHttpBody('learnRequest', body);
    if (!v.ok) throw new Refusal('ERR_BAD_MESSAGE', v.reason);
    send(res, 200, JSON_TYPE, JSON.stringify(await teacher.learn(body as LearnRequestBody)));
  }

  private take(address: string): boolean {
    let b = this.buckets.get(address);
    if (!b) {
      // the map is cleared when it grows: a bucket only matters within seconds
      if (this.buckets.size > 10_000) this.buckets.clear();
      b = new TokenBucket(this.o.maxRequestsPerSecond, 2 * this.o.maxRequestsPerSecond);
      this.buckets.set(address, b);
    }
    return b.take();
  }

  private refuse(res: ServerResponse, code: ErrorCode, message: string, headers: Record<string, string> = {}): void {
    if (res.headersSent) return void res.destroy();
    send(res, ERROR_CODES[code].http ?? 400, JSON_TYPE, errorBody(code, message), headers);
  }

  private fail(res: ServerResponse, e: unknown): void {
    if (e instanceof Refusal) return this.refuse(res, e.code, e.message, e.code === 'ERR_TOO_LARGE' ? { connection: 'close' } : {});
    if (e instanceof SoundeeError) {
      const code = (Object.hasOwn(ERROR_CODES, e.code) ? e.code : MAPPED[e.code]) as ErrorCode | undefined;
      if (code && ERROR_CODES[code].http !== null) return this.refuse(res, code, e.message);
    }
    this.o.log(`teaching: ${(e as Error).stack ?? String(e)}`);
    this.refuse(res, 'ERR_INTERNAL', 'internal error');
  }
}

/** A millisecond query parameter, or undefined. @throws Refusal ERR_BAD_PARAMS. */
function millis(url: URL, name: string): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new Refusal('ERR_BAD_PARAMS', `${name} must be a number of ms ≥ 0, got ${JSON.stringify(v)}`);
  return n;
}

/**
 * Reads a request body of one of `types`, at most `limit` bytes (the declared length is checked
 * before reading, the bytes as they come).
 * @throws Refusal ERR_UNSUPPORTED_MEDIA, ERR_TOO_LARGE.
 */
function readBody(req: IncomingMessage, limit: number, types: readonly string[]): Promise<Buffer> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (!types.includes(type))
    return Promise.reject(
      new Refusal('ERR_UNSUPPORTED_MEDIA', `send the body as ${types[0]} (got ${type ? JSON.stringify(type) : 'no Content-Type'})`),
    );
  const declared = Number(req.headers['content-length']);
  const tooLarge = () => new Refusal('ERR_TOO_LARGE', `the body is over the limit of ${limit} bytes`);
  if (declared > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const onData = (b: Buffer) => {
      size += b.length;
      if (size > limit) {
        req.off('data', onData);
        req.resume(); // the rest is read and dropped; the connection is closed after the answer
        return reject(tooLarge());
      }
      parts.push(b);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(parts)));
    req.once('error', reject);
  });
}
