/**
 * Writes every protocol schema into docs/protocol.md, verbatim from src/protocol/schemas.ts: each
 * `<!-- schema:NAME -->` marker is followed by a ```json block that this script replaces. A test
 * (test/server/protocol.test.ts) fails when the doc and the code differ; run this after changing a schema.
 *
 *   npm run docs:protocol            # rewrite the blocks
 *   npm run docs:protocol -- --check # exit 1 when the doc is stale
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALL_SCHEMAS, SCHEMA_ID_PREFIX } from '../src/protocol/index.ts';

const WIDTH = 120;

/** JSON with objects expanded and arrays of scalars on one line when they fit. */
export function formatJson(value: unknown, indent = ''): string {
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (value.every((v) => v === null || typeof v !== 'object')) {
      const line = `[${value.map((v) => JSON.stringify(v)).join(', ')}]`;
      if (indent.length + line.length <= WIDTH) return line;
    }
    return `[\n${value.map((v) => inner + formatJson(v, inner)).join(',\n')}\n${indent}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    if (entries.length === 0) return '{}';
    return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${formatJson(v, inner)}`).join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value);
}

const file = join(import.meta.dirname, '../docs/protocol.md');
const doc = readFileSync(file, 'utf8');
const byName = new Map(ALL_SCHEMAS.map((s) => [s.$id.slice(SCHEMA_ID_PREFIX.length), s]));
const seen = new Set<string>();
const out = doc.replace(/(<!-- schema:([a-z-]+) -->[\s\S]*?```json\n)[\s\S]*?(```)/g, (_all, head: string, name: string, tail: string) => {
  const schema = byName.get(name);
  if (!schema) throw new Error(`docs/protocol.md names a schema "${name}" that src/protocol/schemas.ts does not have`);
  seen.add(name);
  return `${head}${formatJson(JSON.parse(JSON.stringify(schema)))}\n${tail}`;
});
const missing = [...byName.keys()].filter((n) => !seen.has(n));
if (missing.length) throw new Error(`docs/protocol.md has no <!-- schema:NAME --> block for: ${missing.join(', ')}`);
if (process.argv.includes('--check')) {
  if (out !== doc) {
    console.error('docs/protocol.md is stale: run npm run docs:protocol');
    process.exit(1);
  }
} else if (out !== doc) {
  writeFileSync(file, out);
  console.log('docs/protocol.md: schemas rewritten');
}
