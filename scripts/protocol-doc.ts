/**
 * Writes the protocol's schemas into the docs, verbatim from src/protocol/schemas.ts: every ```json
 * block of docs/protocol.md (which shows them all) and docs/mqtt.md (the event schema) whose `$id`
 * names a protocol schema is replaced. Tests (test/server/protocol.test.ts, test/mqtt/payloads.test.ts)
 * fail when a doc and the code differ; run this after changing a schema.
 *
 *   npm run docs:protocol            # rewrite the blocks
 *   npm run docs:protocol -- --check # exit 1 when the doc is stale
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALL_SCHEMAS, SCHEMA_ID_PREFIX } from '../src/protocol/index.ts';

/** The line width Biome formats the docs' JSON blocks to (biome.json): the blocks must come out as Biome prints them. */
const WIDTH = 140;

/**
 * JSON with objects expanded and arrays of scalars on one line when the whole line fits (as Biome
 * prints JSON): `prefix` is what stands before the value on its line, `suffix` what follows it.
 */
export function formatJson(value: unknown, indent = '', prefix = indent, suffix = ''): string {
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (value.every((v) => v === null || typeof v !== 'object')) {
      const line = `[${value.map((v) => JSON.stringify(v)).join(', ')}]`;
      if (prefix.length + line.length + suffix.length <= WIDTH) return line;
    }
    return `[\n${value.map((v, i) => inner + formatJson(v, inner, inner, i < value.length - 1 ? ',' : '')).join(',\n')}\n${indent}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    if (entries.length === 0) return '{}';
    return `{\n${entries
      .map(([k, v], i) => {
        const head = `${inner}${JSON.stringify(k)}: `;
        return head + formatJson(v, inner, head, i < entries.length - 1 ? ',' : '');
      })
      .join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value);
}

const byId = new Map<string, (typeof ALL_SCHEMAS)[number]>(ALL_SCHEMAS.map((s) => [s.$id, s]));
/** Rewrites every ```json block of a doc that is a protocol schema (by its $id); returns the doc and the ids it shows. */
function rewrite(doc: string): { out: string; shown: Set<string> } {
  const shown = new Set<string>();
  const out = doc.replace(/```json\n([\s\S]*?)```/g, (all, body: string) => {
    let id: unknown;
    try {
      id = (JSON.parse(body) as { $id?: unknown }).$id;
    } catch {
      return all; // an example with comments or an excerpt: not a schema
    }
    const schema = typeof id === 'string' && id.startsWith(SCHEMA_ID_PREFIX) ? byId.get(id) : undefined;
    if (typeof id === 'string' && id.startsWith(SCHEMA_ID_PREFIX) && !schema)
      throw new Error(`a doc shows a schema ${id} that src/protocol/schemas.ts does not have`);
    if (!schema) return all;
    shown.add(schema.$id);
    return `\`\`\`json\n${formatJson(JSON.parse(JSON.stringify(schema)))}\n\`\`\``;
  });
  return { out, shown };
}

let stale = false;
// protocol.md shows every schema; mqtt.md shows the event schema its payloads carry
for (const [name, mustShowAll] of [
  ['protocol.md', true],
  ['mqtt.md', false],
] as const) {
  const file = join(import.meta.dirname, '../docs', name);
  const doc = readFileSync(file, 'utf8');
  const { out, shown } = rewrite(doc);
  const missing = [...byId.keys()].filter((id) => !shown.has(id));
  if (mustShowAll && missing.length) throw new Error(`docs/${name} does not show: ${missing.join(', ')}`);
  if (out === doc) continue;
  stale = true;
  if (!process.argv.includes('--check')) {
    writeFileSync(file, out);
    console.log(`docs/${name}: schemas rewritten`);
  }
}
if (stale && process.argv.includes('--check')) {
  console.error('the docs show stale schemas: run npm run docs:protocol');
  process.exit(1);
}
