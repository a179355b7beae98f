/** examples/print-events.ts runs as documented and prints events. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPO_ROOT } from '../helpers/fixtures.ts';
import { type TestModel, testServer, tinyModel, until } from '../server/helpers.ts';

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
