/**
 * Teaching a sound from the dashboard, in real headless Chromium whose microphone is a real recording
 * (the doorbell of minetest-mod-homedecor, test/fixtures/doorbell-homedecor.wav; Chromium's fake
 * capture device loops it): the page records three takes through the teach panel at the browser's own
 * rate, shows each as the server's feature path renders it, takes two WAV files (faster than the
 * server's rate limit allows) and drops one, trims a take, marks a speech recording as what must not trigger it, learns "doorbell" (the server swaps its
 * model without a restart), then streams the same microphone to the server and shows the doorbell
 * recognised live (predictions and an event); the learned class is listed and removed. A server started without learning says so in the panel.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { framesPerHop, framesPerWindow } from '../../src/config.ts';
import { Engine } from '../../src/engine/engine.ts';
import { Classifier } from '../../src/model/classifier.ts';
import { loadModel } from '../../src/model/io.ts';
import { DEFAULT_MODEL_DIR } from '../../src/paths.ts';
import { type ServerOptions, helloFor, startServer } from '../../src/server/server.ts';
import { type TestBrowser, chromiumMissing, launchChromium } from '../helpers/chromium.ts';
import { REPO_ROOT, fixture } from '../helpers/fixtures.ts';
import { probe } from '../server/helpers.ts';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');
const TOKEN = 'teach-dashboard-token';
const MIC = fixture('doorbell-homedecor.wav');
const skip = chromiumMissing;

let browser: BrowserContext | undefined;
let chrome: TestBrowser | undefined;
before(async () => {
  if (skip) return;
  chrome = await launchChromium({
    // the page's microphone is the recording, looped; the permission prompt is answered yes
    args: ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-audio-capture=${MIC}`],
    viewport: { width: 1280, height: 1400 },
  });
  browser = chrome.context;
});
after(async () => {
  await chrome?.close();
});

/** A server on the bundled model, with ingest, that learns into a fresh folder (unless `learn: undefined`). */
async function teachingServer(o: Partial<ServerOptions> = {}) {
  const classifier = new Classifier(await loadModel(DEFAULT_MODEL_DIR));
  classifier.warmUp();
  const engine = new Engine(classifier);
  const learnDir = await mkdtemp(join(tmpdir(), 'soundee-learned-'));
  const server = await startServer({
    port: 0,
    token: TOKEN,
    hello: () => helloFor(engine.model),
    ingest: { engine },
    // one teaching request per second (bursts of 2): the page must pace itself
    learn: { engine, modelDir: DEFAULT_MODEL_DIR, learnDir, limits: { maxRequestsPerSecond: 1 } },
    log: () => {},
    ...o,
  });
  return {
    server,
    engine,
    learnDir,
    async close() {
      await server.close();
      engine.dispose();
      await rm(learnDir, { recursive: true, force: true });
    },
  };
}

/** The page's errors (a request refused by the rate limit, which the page waits out and sends again, is counted in `limited`). */
function watch(page: Page): string[] & { limited: number } {
  const problems = Object.assign([] as string[], { limited: 0 });
  page.on('response', (r) => r.status() === 429 && problems.limited++);
  page.on('console', (m) => m.type() === 'error' && !/status of 429/.test(m.text()) && problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return problems;
}

test('teach a sound from the dashboard with the browser microphone, and see it recognised live', { skip, timeout: 180_000 }, async () => {
  const t = await teachingServer();
  const page = await browser!.newPage();
  const problems = watch(page);
  const sub = probe(`ws://127.0.0.1:${t.server.port}/v1/stream?token=${TOKEN}&types=status`);
  try {
    await sub.next((m) => m.type === 'hello');
    await page.goto(`http://127.0.0.1:${t.server.port}/?token=${TOKEN}`);
    await page.waitForSelector('#conn[data-state="connected"]', { timeout: 10_000 });
    await page.waitForSelector('#teach[data-enabled="true"]', { timeout: 10_000 });
    assert.equal(await page.locator('#bars li[data-class="doorbell"]').count(), 0);
    assert.ok(await page.locator('#teach-learn').isDisabled(), 'nothing to learn from yet');

    // three takes from the microphone, 3 s each (the count is shown as they come)
    await page.locator('#teach-seconds').fill('3');
    for (const n of [1, 2, 3]) {
      await page.locator('#teach-record').click();
      await page.waitForSelector(`#teach-count[data-count="${n}"]`, { timeout: 20_000 });
    }
    // the takes went to the server at the browser's own rate, and came back as the model sees them
    const browserRateHz = (await page.evaluate(
      '(async () => { const c = new AudioContext(); const r = c.sampleRate; await c.close(); return r; })()',
    )) as number;
    const c = t.engine.features;
    const takes = page.locator('#teach-examples li');
    assert.equal(await takes.count(), 3);
    for (let i = 0; i < 3; i++) {
      const info = (await takes.nth(i).locator('.ex-info').textContent()) ?? '';
      assert.match(info, new RegExp(`3\\.00 s kept of 3\\.00 s · ${browserRateHz} Hz · 9 windows, [1-9] with sound`), info);
      const size = await takes
        .nth(i)
        .locator('canvas')
        .evaluate((el) => [(el as HTMLCanvasElement).width, (el as HTMLCanvasElement).height]);
      assert.deepEqual(size, [framesPerWindow(c) + 8 * framesPerHop(c), c.bands], 'every STFT frame of the take, at the model’s bands');
    }

    // WAV files are taken too (two at once); one is dropped
    await page.locator('#teach-files').setInputFiles([MIC, join(REPO_ROOT, 'samples/speech.wav')]);
    await page.waitForSelector('#teach-examples li:nth-child(5)', { timeout: 20_000 });
    assert.match((await takes.nth(3).locator('.ex-info').textContent()) ?? '', /16000 Hz · 9 windows/);
    // by keyboard: focus moves on to the take that took its place
    await takes.nth(3).getByRole('button', { name: 'drop doorbell-homedecor' }).focus();
    await page.keyboard.press('Enter');
    await page.waitForSelector('#teach-count[data-count="4"]');
    assert.equal(await takes.count(), 4);
    assert.equal(await page.evaluate('document.activeElement.getAttribute("aria-label")'), 'drop speech');
    // a recording of what must not trigger it (here: speech, as from a TV) is marked so, and does not count as an example
    await takes.nth(3).getByRole('checkbox', { name: 'speech is not the sound: learn that it must not trigger it' }).check();
    await page.waitForSelector('#teach-count[data-count="3"][data-negatives="1"]');
    // a take is trimmed: the server renders the part kept
    await takes.nth(0).locator('.ex-end').fill('2.5');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('#teach-examples li .ex-info')?.textContent?.startsWith('2.50 s kept'), null, {
      timeout: 10_000,
    });
    const trimmedWidth = await takes
      .nth(0)
      .locator('canvas')
      .evaluate((el) => (el as HTMLCanvasElement).width);
    assert.equal(trimmedWidth, framesPerWindow(c) + 6 * framesPerHop(c), '2.5 s: 7 windows of 1 s, 250 ms apart');
    assert.equal(await page.evaluate('document.activeElement.getAttribute("aria-label")'), 'end of take 1 in seconds', 'focus stays');

    await mkdir(ARTIFACTS, { recursive: true });
    await page.locator('#teach').screenshot({ path: join(ARTIFACTS, 'dashboard-teach-takes.png') });

    // learn it: the button names the class; progress comes as learn statuses; the model changes without a restart
    await page.locator('#teach-label').fill('doorbell');
    assert.equal(await page.locator('#teach-learn').textContent(), 'Learn “doorbell”');
    await page.locator('#teach-learn').click();
    await page.waitForSelector('#teach-status[data-state="done"]', { timeout: 90_000 });
    assert.match(
      (await page.locator('#teach-status').textContent()) ?? '',
      /learned “doorbell”.*on takes it did not learn from \(each left out in turn\) it recognised \d of 3/,
    );
    await page.waitForSelector('#bars li[data-class="doorbell"]', { timeout: 10_000 });
    await page.waitForSelector('#teach-classes li[data-label="doorbell"]', { timeout: 10_000 });
    assert.match((await page.locator('#teach-model').textContent()) ?? '', /\+doorbell/);
    assert.ok(t.engine.classes.includes('doorbell'), 'the server runs the new model');
    const learnStates = sub
      .ofType('status')
      .filter((m) => m.kind === 'learn')
      .map((m) => m.state);
    assert.equal(learnStates[0], 'started');
    assert.ok(learnStates.includes('progress') && learnStates.at(-1) === 'done', learnStates.join(' '));
    assert.equal(await page.locator('#teach-count').getAttribute('data-count'), '0', 'the takes were used');
    assert.match(
      (await page.locator('#teach-classes li[data-label="doorbell"] .meta').textContent()) ?? '',
      /^3 examples, 1 not it · \d of 3 takes recognised when left out · /,
    );

    // listen with the same microphone: the page streams it in, and shows the doorbell predicted live, and its event
    await page.locator('#teach-listen').click();
    await page.waitForFunction(
      () => (document.getElementById('stream') as HTMLSelectElement | null)?.value === 'browser microphone',
      null,
      {
        timeout: 10_000,
      },
    );
    await page.waitForFunction(() => document.getElementById('label')?.dataset.label === 'doorbell', null, { timeout: 20_000 });
    await page.waitForFunction(() => /start\s*doorbell/.test(document.getElementById('event-list')?.textContent ?? ''), null, {
      timeout: 20_000,
    });
    assert.equal(await page.locator('#teach-listen').getAttribute('aria-pressed'), 'true');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-teach.png'), fullPage: true });

    // remove it: the model changes back, the open event ends, the bars lose the class
    await page.getByRole('button', { name: 'remove doorbell' }).click();
    await page.waitForFunction(() => !document.querySelector('#bars li[data-class="doorbell"]'), null, { timeout: 30_000 });
    await page.waitForSelector('#teach-classes li.empty', { timeout: 10_000 });
    assert.ok(!t.engine.classes.includes('doorbell'));
    await page.locator('#teach-listen').click();
    await page.waitForSelector('#teach-listen[aria-pressed="false"]', { timeout: 10_000 });
    assert.equal((await readdir(t.learnDir)).length, 2, 'one model folder per change');
    assert.deepEqual([...problems], [], 'no errors in the page (including Content-Security-Policy violations)');
    // the previews, the trim and the learn request came faster than the server takes them (1 request/s,
    // bursts of 2): refused ones were sent again after a wait, and nothing was lost (all of the above)
    assert.ok(problems.limited > 0, 'the rate limit was met');
  } finally {
    sub.ws.close();
    await page.close();
    await t.close();
  }
});

test('a server that does not learn says so in the panel', { skip, timeout: 60_000 }, async () => {
  const t = await teachingServer({ learn: undefined });
  const page = await browser!.newPage();
  try {
    await page.goto(`http://127.0.0.1:${t.server.port}/?token=${TOKEN}`);
    await page.waitForSelector('#teach[data-enabled="false"]', { timeout: 10_000 });
    assert.match(
      (await page.locator('#teach-disabled').textContent()) ?? '',
      /does not learn new sounds \(it was started with --no-learn\)/,
    );
    assert.ok(await page.locator('#teach-record').isDisabled());
    assert.ok(await page.locator('#teach-learn').isDisabled());
  } finally {
    await page.close();
    await t.close();
  }
});
