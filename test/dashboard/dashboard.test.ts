/**
 * The live dashboard in real headless Chromium: it connects (with a token), shows a label from a
 * replayed sample with the bundled model, draws the spectrogram and model input with exactly the
 * pixels the server's feature path rendered, lists events, and leaves a screenshot in test-artifacts/.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { BrowserContext } from 'playwright-core';
import { type SpectrogramMessage, connect } from '../../src/client/index.ts';
import { ingestWav } from '../../src/client/ingest.ts';
import { WEAK_RECALL } from '../../src/model/io.ts';
import { DEFAULT_MODEL_DIR } from '../../src/paths.ts';
import { type TestBrowser, chromiumMissing, launchChromium } from '../helpers/chromium.ts';
import { REPO_ROOT } from '../helpers/fixtures.ts';
import { type TestModel, fromDir, testServer } from '../server/helpers.ts';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');
const TOKEN = 'dashboard-test-token';
const skip = chromiumMissing;

let model: TestModel;
let browser: BrowserContext | undefined;
let chrome: TestBrowser | undefined;
before(async () => {
  if (skip) return;
  model = await fromDir(DEFAULT_MODEL_DIR); // the bundled model, as a user would run it
  chrome = await launchChromium({ viewport: { width: 1280, height: 800 } });
  browser = chrome.context;
});
after(async () => {
  await chrome?.close();
  await model?.dispose();
});

test("the dashboard connects, shows a label, the spectrogram and model input in the model's colours, and events", {
  skip,
  timeout: 60_000,
}, async () => {
  // the untrained model's own events are switched off (every class background): the events drawn are the two published below
  const quiet = model.newEngine({ events: { backgroundClasses: [...model.classifier.classes] } });
  const server = await testServer(model, { token: TOKEN, ingest: { engine: quiet } });
  const page = await browser!.newPage();
  const problems: string[] = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  // a second subscriber records the spectrogram messages the page draws
  const watcher = connect({ url: server.url, token: TOKEN, filter: { types: ['spectrogram'] } });
  const columns: SpectrogramMessage[] = [];
  watcher.on('spectrogram', (m) => columns.push(m));
  try {
    await watcher.ready;
    await page.goto(`http://127.0.0.1:${server.port}/?token=${TOKEN}`);
    await page.waitForSelector('#conn[data-state="connected"]', { timeout: 10_000 });
    assert.ok(!page.url().includes(TOKEN), 'the token left the address bar');
    assert.equal(await page.locator('#bars li').count(), model.classifier.classes.length, 'one bar per class');
    // beside each bar, how far to trust the class: its held-out recall from the model's metadata, weak ones marked
    const meta = JSON.parse(await readFile(join(DEFAULT_MODEL_DIR, 'metadata.json'), 'utf8'));
    const recall: Record<string, number> = meta.evaluation.crossValidation.recall;
    const shown = await page
      .locator('#bars li')
      .evaluateAll((els) =>
        els.map((e) => [(e as HTMLElement).dataset.class, e.querySelector('.trust')!.textContent, e.classList.contains('weak')]),
      );
    assert.deepEqual(
      shown,
      model.classifier.classes.map((c) =>
        c in recall ? [c, `${Math.round(100 * recall[c]!)} %`, recall[c]! < WEAK_RECALL] : [c, '', false],
      ),
    );
    assert.ok(shown.some((x) => x[2]) && shown.some((x) => x[1] && !x[2]), 'the bundled model has classes on both sides of 50 %');
    assert.ok(await page.locator('#trust-note').isVisible(), 'the note says what the figures are');

    const classes = [...model.classifier.classes, 'unknown'];
    const summary = await ingestWav(join(REPO_ROOT, 'samples/rain.wav'), {
      url: server.url,
      token: TOKEN,
      streamId: 'rain.wav',
      pace: 'realtime',
    });
    assert.equal(summary.windows, 9);
    server.publishEvent({ streamId: 'rain.wav', label: 'rain', phase: 'start', startMs: 250, peakConfidence: 0.81, meanConfidence: 0.66 });
    server.publishEvent({
      streamId: 'rain.wav',
      label: 'rain',
      phase: 'end',
      startMs: 250,
      endMs: 3000,
      peakConfidence: 0.93,
      meanConfidence: 0.72,
    });

    await page.waitForFunction(() => document.querySelector('#window-time')?.textContent?.startsWith('window 8'), null, {
      timeout: 10_000,
    });
    const label = await page.locator('#label').getAttribute('data-label');
    assert.ok(label && classes.includes(label), `label ${label} is one of the model's classes or unknown`);
    assert.equal(await page.locator('#label').textContent(), label);
    assert.equal(await page.locator('#stream').inputValue(), 'rain.wav');
    const widths = await page.locator('#bars .fill').evaluateAll((els) => els.map((e) => parseFloat((e as HTMLElement).style.width)));
    assert.ok(
      widths.some((w) => w > 0),
      'the bars show the scores',
    );
    assert.ok(Math.abs(widths.reduce((a, b) => a + b, 0) - 100) < 1, `scores add up to 100 % (${widths.join(', ')})`);
    const track = (await page.locator('#bars li.top .track').boundingBox())!;
    const fill = (await page.locator('#bars li.top .fill').boundingBox())!;
    const topWidth = Math.max(...widths);
    assert.ok(
      Math.abs(fill.width - (track.width * topWidth) / 100) < 2,
      `the top bar is drawn ${fill.width.toFixed(1)} px of ${track.width.toFixed(1)} (${topWidth} %)`,
    );

    // the canvases hold exactly the server-rendered pixels (same colormap as the model input)
    await page.waitForFunction(() => document.querySelector('#input-time')?.textContent?.startsWith('window 8'), null, { timeout: 10_000 });
    const last = columns.find((m) => m.index === 8)!;
    assert.ok(last, 'the watcher got the last window');
    // (a string, not a function: tsx would add helpers to a function that do not exist in the page)
    const drawn = (await page.evaluate(`(() => {
      const spec = document.getElementById('spectrogram');
      const input = document.getElementById('model-input');
      const rgb = (d) => Array.from(d.data).filter((_, i) => i % 4 !== 3);
      return {
        right: rgb(spec.getContext('2d').getImageData(spec.width - ${last.columns.width}, 0, ${last.columns.width}, spec.height)),
        input: rgb(input.getContext('2d').getImageData(0, 0, input.width, input.height)),
        height: spec.height,
      };
    })()`)) as { right: number[]; input: number[]; height: number };
    assert.equal(drawn.height, model.classifier.features.bands);
    assert.deepEqual(drawn.right, [...Buffer.from(last.columns.data, 'base64')], "the newest spectrogram columns are the server's pixels");
    assert.deepEqual(drawn.input, [...Buffer.from(last.input.data, 'base64')], "the model input image is the server's pixels");

    await page.waitForSelector('#event-list li[data-id="2"]', { timeout: 5000 });
    assert.match((await page.locator('#event-list').textContent()) ?? '', /end\s*rain\s*0\.25 s → 3\.00 s/);
    assert.equal(await page.locator('#timeline .span').count(), 1, 'one event span on the timeline');

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    assert.deepEqual(problems, [], 'no errors in the page (including Content-Security-Policy violations)');
  } finally {
    await watcher.close();
    await page.close();
    await server.close();
  }
});

test('the dashboard reports a lost connection and reconnects on its own', { skip, timeout: 60_000 }, async () => {
  let server = await testServer(model);
  const port = server.port;
  const page = await browser!.newPage();
  try {
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForSelector('#conn[data-state="connected"]', { timeout: 10_000 });
    await server.close();
    await page.waitForSelector('#conn[data-state="error"]', { timeout: 10_000 });
    server = await testServer(model, { port });
    await page.waitForSelector('#conn[data-state="connected"]', { timeout: 15_000 });
  } finally {
    await page.close();
    await server.close();
  }
});
