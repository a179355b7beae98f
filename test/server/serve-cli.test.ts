/** `soundee serve` and `replay --port` as a user runs them: real processes. */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ingestWav } from '../../src/client/ingest.ts';
import { buildProgram } from '../../src/cli/main.ts';
import { serverSettings } from '../../src/cli/server-options.ts';
import { DEFAULT_SERVER_OPTIONS } from '../../src/server/limits.ts';
import { probe } from './helpers.ts';
import type { ClassesBody, EventMessage } from '../../src/protocol/index.ts';
import { REPO_ROOT, tempDir, writeTinyModel } from '../helpers/fixtures.ts';
import { writeTiltModel } from '../helpers/tilt-model.ts';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let model: string;
let tilt: string;
before(async () => {
  tmp = await tempDir();
  model = join(tmp.dir, 'model');
  await writeTinyModel(model, ['hum', 'hiss']);
  tilt = join(tmp.dir, 'tilt'); // a model that calls fire.wav 'fire' (see tilt-model.ts)
  await writeTiltModel(tilt);
});
after(() => tmp.cleanup());

/** Starts the CLI; resolves with the process and the port it announces. */
function start(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; port: number; stderr: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/soundee.js'), ...args], {
    env: { ...process.env, SOUNDEE_BACKEND: 'wasm', ...env },
  });
  let stderr = '';
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /dashboard at http:\/\/127\.0\.0\.1:(\d+)\//.exec(stderr);
      if (m) resolve({ child, port: Number(m[1]), stderr: () => stderr, exited });
    });
    child.stdout!.resume();
    void exited.then((code) => reject(new Error(`exited (${code}) before announcing a port: ${stderr}`)));
  });
}

test('help documents serve and the server options of replay', () => {
  const program = buildProgram();
  const serve = program.commands.find((c) => c.name() === 'serve')!.helpInformation();
  const limits = [
    '--history',
    '--max-connections',
    '--max-connections-per-address',
    '--max-subscribers',
    '--max-subscribers-per-address',
    '--handshake-timeout',
  ];
  for (const opt of [
    '--port',
    '--host',
    '--token',
    '--origin',
    '--model',
    '--learn-dir',
    '--no-learn',
    ...limits,
    '--max-streams',
    '--max-streams-per-address',
  ])
    assert.ok(serve.includes(opt), opt);
  // the defaults shown are the server's own
  const flat = serve.replace(/\s+/g, ' ');
  const shown = (flag: string) => Number(new RegExp(`${flag} <n> .*?\\(default: (\\d+)\\)`).exec(flat)?.[1]);
  assert.equal(shown('--max-connections'), DEFAULT_SERVER_OPTIONS.maxConnections);
  assert.equal(shown('--max-subscribers-per-address'), DEFAULT_SERVER_OPTIONS.maxSubscribersPerAddress);
  assert.equal(shown('--handshake-timeout'), DEFAULT_SERVER_OPTIONS.handshakeTimeoutMillis);
  for (const name of ['replay', 'listen']) {
    const help = program.commands.find((c) => c.name() === name)!.helpInformation();
    for (const opt of ['--port', '--host', '--token', '--origin', '--learn-dir', '--no-learn', ...limits])
      assert.ok(help.includes(opt), `${name} ${opt}`);
    assert.ok(!help.includes('--max-streams'), `${name} takes no ingest streams`);
  }
});

test('limits from the command line reach the server', { timeout: 60_000 }, async () => {
  const { child, port, exited } = await start([
    'serve',
    '--port',
    '0',
    '--model',
    model,
    '--max-subscribers-per-address',
    '1',
    '--history',
    '5',
  ]);
  try {
    const url = `ws://127.0.0.1:${port}/v1/stream`;
    const first = probe(url);
    assert.equal((await first.next(() => true)).type, 'hello');
    const second = probe(url);
    const refused = await second.next(() => true);
    assert.equal(refused.code, 'ERR_TOO_MANY_CONNECTIONS');
    assert.match(String(refused.message), /this address has 1 subscriber connections open/);
    const elsewhere = probe(url, { localAddress: '127.0.0.2' });
    assert.equal((await elsewhere.next(() => true)).type, 'hello');
    for (const p of [first, elsewhere]) p.ws.close();
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0);
});

test('exposing the server without a token warns; the token also comes from SOUNDEE_TOKEN', () => {
  const lines: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((s: string) => (lines.push(s), true)) as typeof process.stderr.write;
  const saved = process.env.SOUNDEE_TOKEN;
  try {
    delete process.env.SOUNDEE_TOKEN;
    assert.deepEqual(serverSettings({ host: '127.0.0.1' }), { host: '127.0.0.1', origins: [] });
    assert.equal(lines.length, 0, 'loopback without a token: no warning');
    serverSettings({ host: '0.0.0.0', origin: ['https://app.example'] });
    assert.match(lines.join(''), /warning: listening on 0\.0\.0\.0 without a token/);
    lines.length = 0;
    process.env.SOUNDEE_TOKEN = 'from-env';
    assert.deepEqual(serverSettings({ host: '0.0.0.0' }), { host: '0.0.0.0', token: 'from-env', origins: [] });
    assert.equal(lines.length, 0);
  } finally {
    process.stderr.write = write;
    if (saved === undefined) delete process.env.SOUNDEE_TOKEN;
    else process.env.SOUNDEE_TOKEN = saved;
  }
});

test('soundee serve: token-protected dashboard and API, audio ingest with predictions and events, clean exit on SIGTERM', {
  timeout: 60_000,
}, async () => {
  const { child, port, stderr, exited } = await start(['serve', '--port', '0', '--model', tilt], { SOUNDEE_TOKEN: 'cli-token' });
  try {
    assert.doesNotMatch(stderr(), /cli-token/, 'the token is never printed');
    const base = `http://127.0.0.1:${port}`;
    assert.equal((await fetch(`${base}/`)).status, 401);
    assert.equal((await fetch(`${base}/v1/info`, { headers: { authorization: 'Bearer nope' } })).status, 401);
    const page = await fetch(`${base}/?token=cli-token`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>Soundee/);
    const preds: string[] = [];
    const events: EventMessage[] = [];
    const summary = await ingestWav(join(REPO_ROOT, 'samples/fire.wav'), {
      url: `ws://127.0.0.1:${port}`,
      token: 'cli-token',
      onPrediction: (p) => preds.push(p.label),
      onEvent: (e) => events.push(e),
    });
    assert.deepEqual(summary, { streamId: 'fire.wav', windows: 9, predictions: 9, events: 2 });
    assert.deepEqual(preds, Array(9).fill('fire'));
    // the event layer runs on ingest streams: 3 s of fire is one event, ended with the stream
    assert.deepEqual(
      events.map((e) => [e.id, e.label, e.phase, e.startMs, e.endMs]),
      [
        [1, 'fire', 'start', 0, undefined],
        [2, 'fire', 'end', 0, 3000],
      ],
    );
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0);
  assert.match(stderr(), /shutting down/);
});

test('replay --port serves the dashboard while it replays, and after the end until SIGINT; --loop keeps replaying', {
  timeout: 60_000,
}, async () => {
  const { child, port, exited, stderr } = await start([
    'replay',
    join(REPO_ROOT, 'samples/water.wav'),
    '--realtime',
    '--port',
    '0',
    '--model',
    model,
  ]);
  const res = await fetch(`http://127.0.0.1:${port}/`);
  assert.equal(res.status, 200);
  assert.match(await res.text(), /<canvas id="spectrogram"/);
  const info = (await (await fetch(`http://127.0.0.1:${port}/v1/info`)).json()) as { streams: string[]; ingest: { enabled: boolean } };
  assert.deepEqual(info.streams, ['water.wav'], "the file's name, not its absolute path");
  assert.equal(info.ingest.enabled, false);
  while (!/still serving/.test(stderr())) await new Promise((r) => setTimeout(r, 50));
  assert.equal((await fetch(`http://127.0.0.1:${port}/v1/info`)).status, 200, 'still served after the end of the file');
  child.kill('SIGINT');
  assert.equal(await exited, 0);

  // --loop: the 3 s file replays as one stream past its end (window times run on), until SIGINT
  const looped = await start(['replay', join(REPO_ROOT, 'samples/water.wav'), '--loop', '--json', '--port', '0', '--model', model]);
  let out = '';
  looped.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  while (!/"startMs":6000/.test(out)) await new Promise((r) => setTimeout(r, 50));
  looped.child.kill('SIGINT');
  assert.equal(await looped.exited, 0);
  assert.match(looped.stderr(), /stopped before the end of water\.wav/);
});

test('serve and replay --port teach by default (into --learn-dir); --no-learn refuses teaching with a clear error; a learn directory inside the package is refused', {
  timeout: 60_000,
}, async () => {
  const learnDir = join(tmp.dir, 'learned');
  const served = await start(['serve', '--port', '0', '--model', tilt, '--learn-dir', learnDir]);
  try {
    const said = `teach it sounds from the dashboard; learned models go to ${learnDir}`;
    for (let t0 = Date.now(); !served.stderr().includes(said); ) {
      assert.ok(Date.now() - t0 < 10_000, served.stderr());
      await new Promise((r) => setTimeout(r, 20));
    }
    const hello = (await (await fetch(`http://127.0.0.1:${served.port}/v1/info`)).json()) as { learn: { enabled: boolean } };
    assert.deepEqual(hello.learn, { enabled: true });
    const r = await fetch(`http://127.0.0.1:${served.port}/v1/classes`);
    assert.equal(r.status, 200);
    const body = (await r.json()) as ClassesBody;
    assert.equal(body.learn.enabled, true);
    assert.deepEqual(
      body.classes.map((c) => [c.label, c.learned]),
      body.classes.map((c) => [c.label, false]),
    );
    // a request that reaches the teacher: too few examples, refused with its code (the learning itself: test/server/teach.test.ts)
    const few = await fetch(`http://127.0.0.1:${served.port}/v1/learn`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ label: 'bell', examples: [] }),
    });
    assert.equal(few.status, 400);
    assert.equal(((await few.json()) as { code: string }).code, 'ERR_LEARN_TOO_FEW');
  } finally {
    served.child.kill('SIGTERM');
  }
  assert.equal(await served.exited, 0);

  const replay = await start(['replay', join(REPO_ROOT, 'samples/water.wav'), '--loop', '--port', '0', '--model', model, '--no-learn']);
  try {
    assert.doesNotMatch(replay.stderr(), /teach it sounds/);
    const hello = (await (await fetch(`http://127.0.0.1:${replay.port}/v1/info`)).json()) as { learn: { enabled: boolean } };
    assert.deepEqual(hello.learn, { enabled: false }, 'the hello tells the dashboard');
    for (const [path, method] of [
      ['/v1/learn', 'POST'],
      ['/v1/classes', 'GET'],
    ] as const) {
      const res = await fetch(`http://127.0.0.1:${replay.port}${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: JSON.stringify({ label: 'bell', examples: [] }) } : {}),
      });
      assert.equal(res.status, 403, path);
      const err = (await res.json()) as { code: string; message: string };
      assert.equal(err.code, 'ERR_LEARN_DISABLED');
      assert.match(err.message, /--no-learn/);
    }
  } finally {
    replay.child.kill('SIGINT');
  }
  assert.equal(await replay.exited, 0);

  const inside = spawnSync(
    process.execPath,
    [join(REPO_ROOT, 'bin/soundee.js'), 'serve', '--port', '0', '--model', model, '--learn-dir', join(REPO_ROOT, 'models', 'mine')],
    { env: { ...process.env, SOUNDEE_BACKEND: 'wasm' }, encoding: 'utf8', timeout: 30_000 },
  );
  assert.equal(inside.status, 2, inside.stderr);
  assert.match(inside.stderr, /inside the package's models\/ folder; learned models go elsewhere \(--learn-dir\)/);
});
