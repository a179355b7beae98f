/** Shared test fixtures: signals, temporary directories, a tiny model, the CLI run to completion. */
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { type FeatureConfig, resolveFeatureConfig } from '../../src/config.ts';
import { initBackend } from '../../src/model/backend.ts';
import { saveModel } from '../../src/model/io.ts';

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
export const fixture = (name: string): string => join(FIXTURES, name);
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Runs `soundee ARGS…` (bin/soundee.js, as a user would) to completion on the wasm backend and returns
 * its exit status and output. `timeoutMs`: kill it after this long (default: no limit).
 */
export function runSoundee(args: readonly string[], o: { timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [join(REPO_ROOT, 'bin/soundee.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, SOUNDEE_BACKEND: 'wasm' },
    ...(o.timeoutMs === undefined ? {} : { timeout: o.timeoutMs }),
  });
}

/** A sine of `freqHz` with amplitude `amp`, `seconds` long. */
export function sine(freqHz: number, seconds: number, sampleRateHz = 16000, amp = 0.5): Float32Array {
  const n = Math.round(seconds * sampleRateHz);
  return Float32Array.from({ length: n }, (_, i) => amp * Math.sin((2 * Math.PI * freqHz * i) / sampleRateHz));
}

/** Deterministic white noise in [-amp, amp] (mulberry32). */
export function noise(seconds: number, sampleRateHz = 16000, amp = 0.3, seed = 1): Float32Array {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Float32Array.from({ length: Math.round(seconds * sampleRateHz) }, () => (2 * rand() - 1) * amp);
}

/** A temporary directory removed by the returned cleanup. */
export async function tempDir(prefix = 'soundee-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Saves a tiny (fast, untrained) conv model with the given classes into `dir`. */
export async function writeTinyModel(
  dir: string,
  classes: string[] = ['a', 'b', 'c'],
  features: FeatureConfig = resolveFeatureConfig(),
  seed = 1,
): Promise<void> {
  // a test file that imports the CLI has registered the wasm backend (statically, via training) without
  // initialising it; building layers before that fails
  await initBackend('wasm', null);
  const s = features.imageSize;
  const m = tf.sequential();
  m.add(
    tf.layers.conv2d({
      inputShape: [s, s, 3],
      filters: 4,
      kernelSize: 3,
      strides: 2,
      activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed }),
    }),
  );
  m.add(tf.layers.globalAveragePooling2d({}));
  m.add(
    tf.layers.dense({ units: classes.length, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
  );
  await saveModel(m, dir, { name: 'tiny', architecture: 'tiny-test', classes, features, confidenceThreshold: 0.4 });
  m.dispose();
}
