/** examples/print-events.ts runs as documented and prints events. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPO_ROOT } from '../helpers/fixtures.ts';
import { type TestModel, dropProxy, sleep, testServer, tinyModel, until } from '../server/helpers.ts';

let model: TestModel;
before(async () => (model = await tinyModel()));
after(() => model.dispose());

test('print-events prints the events (and predictions) a server publishes, and stops on Ctrl-C', { timeout: 30_000 }, async () => {
  const server = await testServer(model, { token: 'ex' });
  try {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'examples/print-events.ts'), server.url, '--token', 'ex', '--predictions'],
      { cwd: REPO_ROOT },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    await until(() => out.includes('connected to'), 20_000, 'the example to connect');
    server.publishEvent({ streamId: 'kitchen', label: 'hiss', phase: 'start', startMs: 1250, peakConfidence: 0.8, meanConfidence: 0.6 });
    server.publishEvent({
      streamId: 'kitchen',
      label: 'hiss',
      phase: 'end',
      startMs: 1250,
      endMs: 4000,
      peakConfidence: 0.9,
      meanConfidence: 0.7,
    });
    server.publish({
      type: 'prediction',
      streamId: 'kitchen',
      index: 3,
      startMs: 750,
      endMs: 1750,
      label: 'hum',
      confidence: 0.55,
      scores: { hum: 0.55, hiss: 0.3, tick: 0.15 },
      rmsDb: -20,
    });
    await until(() => out.includes('hum '), 10_000, 'the lines');
    assert.match(out, /\[kitchen\] #1 ▶ hiss started at 1\.25 s \(peak 0\.80, mean 0\.60\)/);
    assert.match(out, /\[kitchen\] #2 ■ hiss ended: 1\.25 s–4\.00 s/);
    assert.match(out, /\[kitchen\] 0\.75 s {2}hum {10}0\.55/);
    child.kill('SIGINT');
    assert.equal(await exited, 0);
  } finally {
    await server.close();
  }
});

const hiss = (startMs: number) => ({
  streamId: 'kitchen',
  label: 'hiss',
  phase: 'start' as const,
  startMs,
  peakConfidence: 0.8,
  meanConfidence: 0.6,
});

/** Runs the example with `args`; `out()` is what it has printed so far. */
function runExample(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'examples/print-events.ts'), ...args], { cwd: REPO_ROOT });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { child, out: () => out, exited };
}

const eventIds = (out: string) => [...out.matchAll(/\] #(\d+) /g)].map((m) => Number(m[1]));

test('against a server with 1,000 events of history it prints only what happens after it connected; a dropped connection resumes without a false alarm', {
  timeout: 60_000,
}, async () => {
  const server = await testServer(model, { historySize: 2000 });
  const proxy = await dropProxy(server.port);
  try {
    for (let i = 0; i < 1000; i++) server.publishEvent(hiss(i));
    const ex = runExample([`ws://127.0.0.1:${proxy.port}`]);
    await until(() => ex.out().includes('connected to'), 20_000, 'the example to connect');
    await sleep(300); // anything stale would have arrived by now
    assert.deepEqual(eventIds(ex.out()), [], 'no stale history');
    assert.doesNotMatch(ex.out(), /missed|no longer held|caught up/);
    server.publishEvent(hiss(5000));
    await until(() => eventIds(ex.out()).length === 1, 10_000, 'the live event');
    assert.deepEqual(eventIds(ex.out()), [1001]);

    // the network drops; three events happen meanwhile; the example reconnects and gets exactly those
    proxy.refusing = true;
    proxy.cut();
    for (let i = 0; i < 3; i++) server.publishEvent(hiss(6000 + i));
    await sleep(300);
    proxy.refusing = false;
    await until(() => eventIds(ex.out()).length === 4, 20_000, 'the missed events after reconnecting');
    assert.deepEqual(eventIds(ex.out()), [1001, 1002, 1003, 1004]);
    assert.match(ex.out(), /caught up: 3 events from while disconnected/);
    assert.doesNotMatch(ex.out(), /no longer held|server restarted/);
    ex.child.kill('SIGINT');
    assert.equal(await ex.exited, 0);
  } finally {
    await proxy.close();
    await server.close();
  }
});

test('with --history it prints the held events first, and says which are no longer held', { timeout: 30_000 }, async () => {
  const server = await testServer(model, { historySize: 10 });
  try {
    for (let i = 0; i < 25; i++) server.publishEvent(hiss(i));
    const ex = runExample([server.url, '--history']);
    await until(() => /history: events up to #15 are no longer held/.test(ex.out()), 20_000, 'the history');
    assert.deepEqual(eventIds(ex.out()), [16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
    ex.child.kill('SIGINT');
    assert.equal(await ex.exited, 0);
  } finally {
    await server.close();
  }
});
