/** Plain HTTP answers every endpoint gives alike: the common headers, JSON bodies, error bodies. */
import type { ServerResponse } from 'node:http';
import type { ErrorCode } from '../protocol/index.ts';
import { errorMessage } from './connection.ts';

export const JSON_TYPE = 'application/json; charset=utf-8';

const COMMON_HEADERS = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** The JSON body of a refused request: an error message (fatal: the request is over). */
export const errorBody = (code: ErrorCode, message: string): string => JSON.stringify({ ...errorMessage(code, message), fatal: true });

/** Answers a request (no body for HEAD). */
export function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...COMMON_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body), ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
