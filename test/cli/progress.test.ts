/** Progress bars: payload tokens (the training bar's `loss {loss}`) never print literally. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { progressBar } from '../../src/cli/progress.ts';

test('a bar with payload tokens prints a placeholder until the payload arrives, then the values; never "{loss}"', () => {
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((s: string) => (written.push(String(s)), true)) as typeof process.stderr.write;
  try {
    const bar = progressBar('epoch 1/2 train', 10, 'loss {loss} acc {acc}');
    bar.stop();
    const before = written.join('');
    written.length = 0;
    const bar2 = progressBar('epoch 1/2 train', 10, 'loss {loss} acc {acc}');
    bar2.update(3, { loss: '0.512', acc: '0.750' });
    bar2.stop();
    const after = written.join('');
    assert.doesNotMatch(before + after, /\{loss\}|\{acc\}/);
    assert.match(before, /loss – acc –/);
    assert.match(after, /loss 0\.512 acc 0\.750/);
  } finally {
    process.stderr.write = write;
  }
});
