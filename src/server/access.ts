/**
 * Who may talk to the server: the token (every HTTP request and WebSocket handshake), the Origin
 * allow-list (browsers), and the Host check that stops DNS rebinding while bound to loopback.
 * Pure functions of the request's headers and URL.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { ErrorCode } from '../protocol/index.ts';

/** Name of the cookie the dashboard page gets after it was opened with `?token=`. */
export const TOKEN_COOKIE = 'soundee_token';

export interface AccessPolicy {
  /** Required token; undefined or '' lets everyone in. */
  token?: string;
  /** Origins (e.g. `https://app.example`) allowed besides the server's own; `*` allows any. */
  origins: readonly string[];
  /** Whether the server is bound to a loopback address (then the Host header must be a loopback name). */
  loopback: boolean;
}

export type AccessVerdict =
  | { ok: true; tokenFrom?: 'header' | 'query' | 'cookie' }
  | { ok: false; code: ErrorCode; status: number; message: string };

/** Whether an interface address is loopback-only. */
export function isLoopbackAddress(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/** The host name of a Host header, without the port. */
function hostName(hostHeader: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(hostHeader);
  if (m) return m[1]!;
  return hostHeader.replace(/:\d+$/, '');
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time token comparison (hashing first equalises the lengths). */
export function tokenMatches(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) {
      try {
        return decodeURIComponent(part.slice(i + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/**
 * Checks a request (HTTP or WebSocket handshake) against the policy: Host, then Origin, then token.
 * The token may come as `Authorization: Bearer <token>`, as the `token` query parameter (browsers
 * cannot set headers on WebSockets) or as the dashboard's cookie.
 */
export function checkAccess(headers: IncomingHttpHeaders, url: URL, policy: AccessPolicy): AccessVerdict {
  const host = headers.host ?? '';
  if (policy.loopback && !isLoopbackAddress(hostName(host)))
    return {
      ok: false,
      code: 'ERR_FORBIDDEN_HOST',
      status: 403,
      message: `Host ${JSON.stringify(host)} is not a loopback name; this server is bound to loopback`,
    };
  const origin = headers.origin;
  if (origin !== undefined) {
    const same = origin === `http://${host}` || origin === `https://${host}`;
    if (!same && !policy.origins.includes('*') && !policy.origins.includes(origin))
      return {
        ok: false,
        code: 'ERR_FORBIDDEN_ORIGIN',
        status: 403,
        message: `Origin ${JSON.stringify(origin)} is not allowed (start the server with --origin ${origin} to allow it)`,
      };
  }
  if (!policy.token) return { ok: true };
  const auth = headers.authorization;
  const bearer = auth && /^Bearer\s+(\S+)\s*$/i.exec(auth)?.[1];
  const candidates: [string | undefined | null, 'header' | 'query' | 'cookie'][] = [
    [bearer, 'header'],
    [url.searchParams.get('token'), 'query'],
    [cookieValue(headers.cookie, TOKEN_COOKIE), 'cookie'],
  ];
  for (const [given, from] of candidates) if (given && tokenMatches(given, policy.token)) return { ok: true, tokenFrom: from };
  const tried = candidates.some(([g]) => g);
  return {
    ok: false,
    code: 'ERR_UNAUTHORIZED',
    status: 401,
    message: tried ? 'wrong token' : 'a token is required: send "Authorization: Bearer <token>" or add ?token=<token> to the URL',
  };
}
