/**
 * Real headless Chromium for the dashboard tests (playwright-core driving Debian's `chromium`): one
 * launch with the flags that keep it off the network, a fresh profile, and its removal.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** A skip reason for node:test when Chromium is missing (scripts/setup.sh installs it), else false. */
export const chromiumMissing: string | false = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium)`;

/** A running browser and how to close it (and remove its profile). */
export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Launches headless Chromium with a fresh profile; `args` adds flags (e.g. a fake microphone). */
export async function launchChromium(o: { args?: readonly string[]; viewport: { width: number; height: number } }): Promise<TestBrowser> {
  const profile = await mkdtemp(join(tmpdir(), 'soundee-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...(o.args ?? []),
    ],
    viewport: o.viewport,
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
