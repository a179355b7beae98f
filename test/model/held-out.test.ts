/**
 * How far to trust each class (the model's held-out recall, shown in hello and on the dashboard): read
 * from the metadata only as far as it is well formed, since it informs and never stops a model loading.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { heldOutRecallOf } from '../../src/model/io.ts';
import { DEFAULT_MODEL_DIR } from '../../src/paths.ts';

const classes = ['background', 'rain', 'wind'];

test("the held-out recall is the cross-validation's, for the model's classes only", () => {
  const m = { classes, evaluation: { crossValidation: { recall: { rain: 0.48, wind: 0.63, doorbell: 0.9, speech: 0.8 } } } };
  assert.deepEqual(heldOutRecallOf(m), { rain: 0.48, wind: 0.63 });
});

test('a model without a cross-validation, or with a malformed one, has no held-out recall', () => {
  for (const evaluation of [
    undefined,
    {},
    { crossValidation: null },
    { crossValidation: { recall: 'high' } },
    { crossValidation: { recall: { rain: 1.5, wind: -0.1, background: '0.9' } } },
  ])
    assert.equal(
      heldOutRecallOf({ classes, ...(evaluation === undefined ? {} : { evaluation: evaluation as Record<string, unknown> }) }),
      undefined,
    );
});

test("the bundled model's held-out recall is its cross-validation report's, for its eight classes", async () => {
  const meta = JSON.parse(await readFile(join(DEFAULT_MODEL_DIR, 'metadata.json'), 'utf8'));
  const report = JSON.parse(await readFile(join(DEFAULT_MODEL_DIR, 'cv-report.json'), 'utf8'));
  const r = heldOutRecallOf(meta)!;
  assert.deepEqual(Object.keys(r).sort(), meta.classes.filter((c: string) => c !== 'background').sort());
  for (const [c, v] of Object.entries(r))
    assert.ok(Math.abs(v - report.targets.recall[c]) < 1e-3, `${c}: ${v} vs ${report.targets.recall[c]}`);
});
