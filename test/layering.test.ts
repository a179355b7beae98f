/**
 * The import graph's layers: the protocol depends on nothing of the pipeline, the subscriber client
 * only on the protocol (audio-sending helpers sit behind their own entry), and nothing in src/ imports
 * in a cycle. Read from the sources' import statements, so a new upward edge fails here.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from './helpers/fixtures.ts';

const SRC = join(REPO_ROOT, 'src');

/** The relative .ts imports of a file (type-only ones included: they are edges of the design too). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'(\.[^']+\.ts)'/gm)].map((m) => resolve(dirname(file), m[1]!));
}

/** Every src/ file `entry` reaches, as paths relative to src/. */
function closure(entry: string): Set<string> {
  const seen = new Set<string>();
  const todo = [join(SRC, entry)];
  while (todo.length) {
    const f = todo.pop()!;
    const rel = relative(SRC, f);
    if (seen.has(rel)) continue;
    seen.add(rel);
    todo.push(...importsOf(f));
  }
  return seen;
}

const PIPELINE = ['stream/', 'events/', 'model/', 'audio/', 'features/', 'dsp/', 'server/', 'training/', 'data/', 'cli/'];

test('src/protocol depends on nothing of the pipeline (only on the feature settings enums in config.ts)', () => {
  const reached = [...closure('protocol/index.ts')].filter((f) => !f.startsWith('protocol/'));
  assert.deepEqual(reached, ['config.ts']);
  assert.deepEqual(importsOf(join(SRC, 'config.ts')), [], 'config.ts is a leaf');
});

test('soundee/client reaches only the protocol; soundee/client/ingest adds the audio code, never the server or the model', () => {
  const client = [...closure('client/index.ts')].filter((f) => !f.startsWith('client/') && !f.startsWith('protocol/'));
  assert.deepEqual(client, ['config.ts']);
  const ingest = [...closure('client/ingest.ts')];
  for (const f of ingest) assert.ok(!/^(server|model|stream|events|training|cli)\//.test(f), `client/ingest reaches ${f}`);
  for (const f of closure('client/index.ts')) assert.ok(!PIPELINE.some((p) => f.startsWith(p)), `client reaches ${f}`);
});

test('no import cycles in src/server, src/protocol and src/client', () => {
  const files = ['server', 'protocol', 'client'].flatMap((d) =>
    readdirSync(join(SRC, d))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => join(SRC, d, f)),
  );
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (f: string, path: string[]): void => {
    if (state.get(f) === 'done') return;
    assert.notEqual(state.get(f), 'visiting', `cycle: ${[...path, f].map((p) => relative(SRC, p)).join(' → ')}`);
    state.set(f, 'visiting');
    for (const g of importsOf(f)) if (files.includes(g)) visit(g, [...path, f]);
    state.set(f, 'done');
  };
  for (const f of files) visit(f, []);
});
