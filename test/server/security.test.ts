import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { checkAccess, isLoopbackAddress, tokenMatches } from '../../src/server/access.ts';
import { type TestModel, handshakeStatus, probe, testServer, tinyModel } from './helpers.ts';

let model: TestModel;
before(async () => (model = await tinyModel()));
after(() => model.dispose());

const TOKEN = 's3cret-token';

/** A raw HTTP/1.1 request (the path is sent exactly as given, unlike fetch, which normalises it). */
function rawGet(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    s.on('data', (d) => (data += d.toString('latin1')));
    s.on('end', () => {
      const [head = '', body = ''] = data.split('\r\n\r\n', 2) as [string, string];
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1]), head, body });
    });
    s.on('error', reject);
    const h = { host: `127.0.0.1:${port}`, connection: 'close', ...headers };
    s.write(
      `GET ${path} HTTP/1.1\r\n${Object.entries(h)
        .map(([k, v]) => `${k}: ${v}`)
        .join('\r\n')}\r\n\r\n`,
    );
  });
}

describe('access rules (pure)', () => {
  const url = (q = '') => new URL(`http://127.0.0.1/v1/stream${q}`);
  const policy = { token: TOKEN, origins: ['https://app.example'], loopback: true };
  const base = { host: '127.0.0.1:8080' };

  test('token: header, query or cookie; compared in constant time', () => {
    assert.equal(checkAccess({ ...base, authorization: `Bearer ${TOKEN}` }, url(), policy).ok, true);
    assert.deepEqual(checkAccess(base, url(`?token=${TOKEN}`), policy), { ok: true, tokenFrom: 'query' });
    assert.deepEqual(checkAccess({ ...base, cookie: `a=b; soundee_token=${TOKEN}` }, url(), policy), { ok: true, tokenFrom: 'cookie' });
    assert.match((checkAccess(base, url(), policy) as { message: string }).message, /token is required/);
    assert.match((checkAccess({ ...base, authorization: 'Bearer nope' }, url(), policy) as { message: string }).message, /wrong token/);
    assert.equal(checkAccess(base, url(), { ...policy, token: undefined }).ok, true, 'no token configured: open');
    assert.ok(tokenMatches('abc', 'abc') && !tokenMatches('abc', 'abcd') && !tokenMatches('', 'abc'));
  });

  test('origin allow-list, same origin, and the loopback Host check', () => {
    const ok = (h: Record<string, string>) => checkAccess({ ...base, authorization: `Bearer ${TOKEN}`, ...h }, url(), policy);
    assert.equal(ok({ origin: 'https://app.example' }).ok, true);
    assert.equal(ok({ origin: 'http://127.0.0.1:8080' }).ok, true, 'same origin');
    assert.deepEqual(ok({ origin: 'https://evil.example' }), {
      ok: false,
      code: 'ERR_FORBIDDEN_ORIGIN',
      status: 403,
      message: 'Origin "https://evil.example" is not allowed (start the server with --origin https://evil.example to allow it)',
    });
    assert.equal(ok({ origin: 'null' }).ok, false);
    assert.equal(ok({ host: 'evil.example:8080' }).ok, false, 'DNS rebinding: a foreign Host while bound to loopback');
    for (const h of ['localhost:1', '127.0.0.1', '[::1]:8080', '127.1.2.3:80']) assert.equal(ok({ host: h }).ok, true, h);
    assert.equal(checkAccess({ host: 'soundee.lan:8080' }, url(), { origins: [], loopback: false }).ok, true, 'exposed: any Host');
    assert.ok(
      isLoopbackAddress('127.0.0.1') && isLoopbackAddress('::1') && isLoopbackAddress('localhost') && !isLoopbackAddress('0.0.0.0'),
    );
  });
});

describe('a server with a token', () => {
  let server: Awaited<ReturnType<typeof testServer>>;
  before(async () => (server = await testServer(model, { token: TOKEN, origins: ['https://app.example'] })));
  after(() => server.close());
  const http = (path: string) => `http://127.0.0.1:${server.port}${path}`;

  test('binds loopback by default', () => assert.equal(server.host, '127.0.0.1'));

  test('HTTP: missing or wrong token → 401 with a JSON error; right token (header, query, then cookie) → 200', async () => {
    for (const [path, headers] of [
      ['/v1/info', {}],
      ['/', {}],
      ['/app.js', {}],
      ['/v1/info', { authorization: 'Bearer wrong' }],
      ['/v1/info?token=wrong', {}],
    ] as const) {
      const res = await fetch(http(path), { headers });
      assert.equal(res.status, 401, path);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer');
      const body = (await res.json()) as { type: string; code: string };
      assert.equal(body.code, 'ERR_UNAUTHORIZED');
    }
    assert.equal((await fetch(http('/v1/info'), { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
    const page = await fetch(http(`/?token=${TOKEN}`));
    assert.equal(page.status, 200);
    const cookie = page.headers.get('set-cookie') ?? '';
    assert.match(cookie, /^soundee_token=s3cret-token; HttpOnly; SameSite=Strict; Path=\//);
    const asset = await fetch(http('/app.js'), { headers: { cookie: cookie.split(';')[0]! } });
    assert.equal(asset.status, 200, "the page's own scripts load with the cookie");
  });

  test('WebSocket: missing or wrong token → 401, the socket never opens; right token → hello', async () => {
    for (const path of ['/v1/stream', '/', '/v1/ingest?streamId=a&sampleRateHz=16000&format=s16le']) {
      const missing = await handshakeStatus(`${server.url}${path}`);
      assert.equal(missing.status, 401, path);
      assert.equal(JSON.parse(missing.body).code, 'ERR_UNAUTHORIZED');
      assert.equal((await handshakeStatus(`${server.url}${path}`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
    }
    const byHeader = probe(`${server.url}/v1/stream`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const byQuery = probe(`${server.url}/v1/stream?token=${TOKEN}`);
    for (const p of [byHeader, byQuery]) {
      assert.equal((await p.next((m) => m.type === 'hello')).type, 'hello');
      p.ws.close();
    }
  });

  test("Origin allow-list: a foreign origin is refused (403); the allowed and the server's own are accepted", async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const evil = await handshakeStatus(`${server.url}/v1/stream`, { headers: auth, origin: 'https://evil.example' });
    assert.equal(evil.status, 403);
    assert.equal(JSON.parse(evil.body).code, 'ERR_FORBIDDEN_ORIGIN');
    assert.equal((await fetch(http('/v1/info'), { headers: { ...auth, origin: 'https://evil.example' } })).status, 403);
    for (const origin of ['https://app.example', `http://127.0.0.1:${server.port}`]) {
      const p = probe(`${server.url}/v1/stream`, { headers: auth, origin });
      await p.next((m) => m.type === 'hello');
      p.ws.close();
    }
    const rebinding = await rawGet(server.port, `/?token=${TOKEN}`, { host: `attacker.example:${server.port}` });
    assert.equal(rebinding.status, 403);
    assert.match(rebinding.body, /ERR_FORBIDDEN_HOST/);
  });

  test('path traversal and odd paths get 404, never a file from outside the dashboard', async () => {
    const q = `token=${TOKEN}`;
    const attempts = [
      '/../package.json',
      '/../../package.json',
      '/%2e%2e/package.json',
      '/%2e%2e%2fpackage.json',
      '/..%2f..%2fpackage.json',
      '/.%2e/.%2e/package.json',
      '/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      '/../../../../../../etc/passwd',
      '//etc/passwd',
      '/..\\..\\package.json',
      '/%5c..%5c..%5cpackage.json',
      '/app.js/../../server.ts',
      '/app.js%00.html',
      '/server.ts',
      '/public/app.js',
      '/.hidden',
      '/index.html/',
    ];
    for (const path of attempts) {
      const r = await rawGet(server.port, `${path}${path.includes('?') ? '&' : '?'}${q}`);
      assert.ok(r.status === 404 || r.status === 400 || r.status === 403, `${path}: ${r.status}`);
      assert.doesNotMatch(r.body, /"name": "soundee"|root:|import \{|startServer/, path);
    }
    const ok = await rawGet(server.port, `/app.js?${q}`);
    assert.equal(ok.status, 200);
    assert.match(ok.head, /content-type: text\/javascript/i);
  });

  test('the page is served with a strict Content-Security-Policy and no-sniff; only GET and HEAD', async () => {
    const res = await fetch(http(`/?token=${TOKEN}`));
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.match(await res.text(), /<title>Soundee/);
    assert.equal((await fetch(http(`/?token=${TOKEN}`), { method: 'HEAD' })).status, 200);
    const post = await fetch(http(`/v1/info?token=${TOKEN}`), { method: 'POST', body: '{}' });
    assert.equal(post.status, 405);
    assert.equal(((await post.json()) as { code: string }).code, 'ERR_METHOD');
    const unknownWs = await handshakeStatus(`${server.url}/v2/stream?token=${TOKEN}`);
    assert.equal(unknownWs.status, 404);
  });

  test('message size and rate limits on subscriber connections', async () => {
    const big = probe(`${server.url}/v1/stream?token=${TOKEN}`);
    await big.next((m) => m.type === 'hello');
    big.ws.send(JSON.stringify({ type: 'ping', id: 'x'.repeat(20_000) }));
    assert.equal((await big.next((m) => m.type === 'error')).code, 'ERR_FRAME_TOO_LARGE');
    assert.equal((await big.closed).code, 1009);

    const chatty = probe(`${server.url}/v1/stream?token=${TOKEN}`);
    await chatty.next((m) => m.type === 'hello');
    for (let i = 0; i < 100; i++) chatty.ws.send(JSON.stringify({ type: 'ping', id: i }));
    assert.equal((await chatty.next((m) => m.type === 'error')).code, 'ERR_RATE_LIMIT');
    assert.equal((await chatty.closed).code, 1008);
    assert.ok(
      chatty.ofType('pong').length >= 20 && chatty.ofType('pong').length <= 41,
      `${chatty.ofType('pong').length} pings answered before the limit`,
    );
  });
});

test('internal failures reach clients as ERR_INTERNAL without details; the details are logged on the server', async () => {
  let broken = false;
  const server = await testServer(model, {
    hello: () => {
      if (broken) throw new Error('database exploded at /secret/path.ts:12');
      return model.hello();
    },
  });
  try {
    broken = true;
    const res = await fetch(`http://127.0.0.1:${server.port}/v1/info`);
    assert.equal(res.status, 500);
    const body = await res.text();
    assert.equal(JSON.parse(body).code, 'ERR_INTERNAL');
    const p = probe(`${server.url}/v1/stream`);
    const err = await p.next((m) => m.type === 'error');
    assert.deepEqual(err, { type: 'error', code: 'ERR_INTERNAL', message: 'internal error', fatal: true });
    assert.equal((await p.closed).code, 1011);
    for (const text of [body, JSON.stringify(err)]) assert.doesNotMatch(text, /exploded|secret|\.ts:/);
    assert.equal(server.logs.length, 2);
    assert.match(server.logs[0]!, /database exploded/);
  } finally {
    await server.close();
  }
});
