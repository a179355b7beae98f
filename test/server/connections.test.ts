/**
 * Connection limits and deadlines (issue 15, items 1 and 2): idle sockets cannot lock a legitimate
 * client out, a socket gets a few seconds to send its request, and one address cannot take every
 * subscriber slot. "Elsewhere" is a second loopback address (127.0.0.2), which Linux routes locally.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ConnectionGate, addressKey } from '../../src/server/admission.ts';
import { DEFAULT_SERVER_OPTIONS, resolveLimits } from '../../src/server/limits.ts';
import { type TestModel, probe, sleep, testServer, tinyModel, until } from './helpers.ts';

let model: TestModel;
before(async () => (model = await tinyModel()));
after(() => model.dispose());

/** Opens `n` TCP connections that never send a byte (from `localAddress`), resolving once all are connected. */
async function idleSockets(port: number, n: number, localAddress = '127.0.0.1'): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  for (let k = 0; k < n; k += 100) {
    const batch = Array.from(
      { length: Math.min(100, n - k) },
      () =>
        new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect({ port, host: '127.0.0.1', localAddress });
          s.on('error', () => {}); // the server may close them: that is the point
          s.once('connect', () => resolve(s));
          s.once('close', () => reject(new Error('closed before connecting')));
        }),
    );
    sockets.push(...(await Promise.all(batch)));
  }
  return sockets;
}

const openCount = (sockets: net.Socket[]) => sockets.filter((s) => !s.destroyed && s.readyState === 'open').length;

/** A subscriber from `localAddress`: resolves with its first message (hello, or the error that refused it). */
async function firstMessage(
  url: string,
  localAddress = '127.0.0.1',
): Promise<{ m: Record<string, unknown>; close: () => void; ms: number }> {
  const t0 = performance.now();
  const p = probe(`${url}/v1/stream`, { localAddress });
  const m = await p.next(() => true, 5000);
  return { m, close: () => p.ws.terminate(), ms: performance.now() - t0 };
}

describe('admission (pure)', () => {
  test('addresses: IPv4 as is, IPv4-mapped unwrapped, IPv6 by /64', () => {
    assert.equal(addressKey('127.0.0.2'), '127.0.0.2');
    assert.equal(addressKey('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(addressKey('2001:db8:aa:1:ffff::1'), addressKey('2001:0db8:00aa:0001::2'));
    assert.equal(addressKey('2001:db8:aa:1::1'), '2001:db8:aa:1::/64');
    assert.notEqual(addressKey('2001:db8:aa:1::1'), addressKey('2001:db8:aa:2::1'));
    assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(addressKey(undefined), 'unknown');
  });

  test('the gate evicts the oldest idle connection to make room, and refuses only when every connection in the way is busy', () => {
    const closed: string[] = [];
    const conn = (name: string) => ({ name, destroy: () => closed.push(name) });
    const gate = new ConnectionGate<ReturnType<typeof conn>>(4, 2);
    const [a1, a2, a3, b1, c1, d1] = ['a1', 'a2', 'a3', 'b1', 'c1', 'd1'].map(conn) as [
      ReturnType<typeof conn>,
      ...ReturnType<typeof conn>[],
    ];
    assert.equal(gate.admit(a1, 'a'), undefined);
    assert.equal(gate.admit(a2!, 'a'), undefined);
    assert.equal(gate.admit(a3!, 'a'), undefined, 'a third from a: the oldest idle one of a makes room');
    assert.deepEqual(closed, ['a1']);
    gate.busy(a2!);
    gate.busy(a3!);
    assert.deepEqual(gate.admit(conn('a4'), 'a'), { scope: 'address', limit: 2 }, 'both of a are busy: refused');
    assert.equal(gate.admit(b1!, 'b'), undefined);
    assert.equal(gate.admit(c1!, 'c'), undefined);
    assert.equal(gate.size, 4);
    assert.equal(gate.admit(d1!, 'd'), undefined, 'the server is full: the oldest idle one anywhere (b1) makes room');
    assert.deepEqual(closed, ['a1', 'b1']);
    gate.busy(c1!);
    gate.busy(d1!);
    assert.deepEqual(gate.admit(conn('e1'), 'e'), { scope: 'server', limit: 4 });
    gate.markIdle(a2!); // a kept-alive connection between requests is idle again
    assert.equal(gate.admit(conn('e2'), 'e'), undefined);
    assert.deepEqual(closed, ['a1', 'b1', 'a2']);
    assert.deepEqual([gate.evicted, gate.refused], [3, 2]);
    gate.release(a3!);
    assert.equal(gate.countFor('a'), 0);
  });

  test('limits: defaults from the one defaults object, checked', () => {
    assert.equal(resolveLimits().maxSubscribersPerAddress, DEFAULT_SERVER_OPTIONS.maxSubscribersPerAddress);
    assert.ok(
      DEFAULT_SERVER_OPTIONS.maxSubscribersPerAddress < DEFAULT_SERVER_OPTIONS.maxSubscribers,
      'one address cannot fill the server',
    );
    assert.throws(() => resolveLimits({ maxConnections: 0 }), { name: 'RangeError', message: /maxConnections must be an integer in \[1,/ });
    assert.throws(() => resolveLimits({ historySize: 1.5 }), RangeError);
  });
});

describe('a live server', () => {
  test('130 idle TCP connections do not lock out a legitimate client from the same address', async () => {
    // a long deadline: what lets the client in here is eviction of idle sockets, not their timing out
    const server = await testServer(model, { handshakeTimeoutMillis: 60_000 });
    try {
      const idle = await idleSockets(server.port, 130);
      await until(() => server.connectionCount <= DEFAULT_SERVER_OPTIONS.maxConnectionsPerAddress, 2000, 'the per-address limit');
      const c = await firstMessage(server.url);
      assert.equal(c.m.type, 'hello');
      assert.ok(openCount(idle) >= 100, `most idle sockets are still open (${openCount(idle)}): the client did not wait for a deadline`);
      c.close();
      for (const s of idle) s.destroy();
    } finally {
      await server.close();
    }
  });

  test('with 1,000 idle TCP connections from 51 addresses open, a legitimate client still gets in, whatever the server-wide limit', async () => {
    for (const maxConnections of [DEFAULT_SERVER_OPTIONS.maxConnections, 600]) {
      const server = await testServer(model, { handshakeTimeoutMillis: 60_000, maxConnections });
      const idle: net.Socket[] = [];
      try {
        idle.push(...(await idleSockets(server.port, 500)));
        for (let a = 1; a <= 50; a++) idle.push(...(await idleSockets(server.port, 10, `127.0.1.${a}`)));
        assert.equal(idle.length, 1000);
        await until(() => server.connectionCount <= maxConnections, 2000, 'the server-wide limit');
        for (const from of ['127.0.0.1', '127.0.0.2']) {
          const c = await firstMessage(server.url, from);
          assert.equal(c.m.type, 'hello', `a client from ${from} with maxConnections ${maxConnections}`);
          c.close();
        }
      } finally {
        for (const s of idle) s.destroy();
        await server.close();
      }
    }
  });

  test('a socket that sends nothing, or its request too slowly, is closed at the deadline', async () => {
    const server = await testServer(model, { handshakeTimeoutMillis: 300 });
    try {
      const [silent] = await idleSockets(server.port, 1);
      const [slow] = await idleSockets(server.port, 1);
      const t0 = performance.now();
      const closedAt = (s: net.Socket) => new Promise<number>((r) => s.once('close', () => r(performance.now() - t0)));
      const done = [closedAt(silent!), closedAt(slow!)];
      const request = `GET /v1/info HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n`;
      for (let i = 0; i < request.length && !slow!.destroyed; i++) {
        slow!.write(request[i]!);
        await sleep(40);
      }
      const [silentMs, slowMs] = await Promise.all(done);
      assert.ok(silentMs! < 2000 && slowMs! < 2000, `closed after ${silentMs!.toFixed(0)} and ${slowMs!.toFixed(0)} ms`);
      await until(() => server.connectionCount === 0, 2000, 'no connection left');
      // a kept-alive HTTP connection gets the same deadline between requests
      const res = await fetch(`http://127.0.0.1:${server.port}/v1/info`);
      assert.equal(res.status, 200);
      await until(() => server.connectionCount === 0, 2000, 'the kept-alive connection to be closed');
    } finally {
      await server.close();
    }
  });

  test('64 subscribers from one address do not take the 65th slot elsewhere; the 65th from that address is refused', async () => {
    const server = await testServer(model);
    const subs: { close: () => void }[] = [];
    try {
      const limit = DEFAULT_SERVER_OPTIONS.maxSubscribersPerAddress;
      for (let i = 0; i < limit; i++) {
        const c = await firstMessage(server.url);
        assert.equal(c.m.type, 'hello');
        subs.push(c);
      }
      const refused = await firstMessage(server.url);
      assert.equal(refused.m.code, 'ERR_TOO_MANY_CONNECTIONS');
      assert.match(String(refused.m.message), /this address has 64 subscriber connections open, the limit per address/);
      const elsewhere = await firstMessage(server.url, '127.0.0.2');
      assert.equal(elsewhere.m.type, 'hello');
      subs.push(elsewhere);
    } finally {
      for (const s of subs) s.close();
      await server.close();
    }
  });

  test('connections per address are capped before authentication: busy ones are not evicted, the address is told why', async () => {
    const server = await testServer(model, { token: 't0k3n', maxConnectionsPerAddress: 3 });
    const subs: { close: () => void }[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const p = probe(`${server.url}/v1/stream?token=t0k3n`);
        await p.next((m) => m.type === 'hello');
        subs.push({ close: () => p.ws.terminate() });
      }
      const res = await fetch(`http://127.0.0.1:${server.port}/v1/info`).catch((e: Error) => e);
      assert.ok(!(res instanceof Error), 'answered, not reset');
      assert.equal(res.status, 503);
      assert.equal(((await res.json()) as { code: string }).code, 'ERR_TOO_MANY_CONNECTIONS');
      const elsewhere = probe(`${server.url}/v1/stream?token=t0k3n`, { localAddress: '127.0.0.2' });
      await elsewhere.next((m) => m.type === 'hello');
      elsewhere.ws.terminate();
    } finally {
      for (const s of subs) s.close();
      await server.close();
    }
  });

  test('one lifecycle: running → closing → closed; clients are told, new WebSockets refused meanwhile', async () => {
    const server = await testServer(model);
    const p = probe(`${server.url}/v1/stream`);
    await p.next((m) => m.type === 'hello');
    assert.equal(server.state, 'running');
    const closing = server.close();
    assert.equal(server.state, 'closing');
    assert.equal(server.close(), closing, 'close() twice is the same close');
    assert.equal((await p.next((m) => m.type === 'error')).code, 'ERR_SHUTDOWN');
    assert.equal((await p.closed).code, 1001);
    await closing;
    assert.equal(server.state, 'closed');
    assert.equal(server.connectionCount, 0);
  });
});
