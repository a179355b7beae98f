/**
 * The microphone's end of the feature path: `listen` records at the device's rate (48 kHz by default)
 * and the engine brings it to the model's rate by the same rule as files and ingest. What a recorder
 * delivers (raw s16le at 48 kHz) goes through `liveMicrophone` and the engine exactly as `listen`
 * wires them; its windows must be those `replay` makes of a 48 kHz 16-bit WAV of the same samples.
 *
 * What is not checkable here is outside Soundee: the sound server's own conversion when a device runs
 * at another rate than the one asked for (docs/listen.md). A stopped microphone ends at once (no
 * flush), so the windows compared are those it produced; the flushed last window is the files' and
 * ingest's, checked in routes-parity.test.ts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { NEVER, Subject, concat, from, lastValueFrom, toArray } from 'rxjs';
import { encodePcm } from '../../src/audio/pcm.ts';
import { DEFAULT_MICROPHONE, liveMicrophone } from '../../src/audio/recorder.ts';
import { encodeWav, readWav } from '../../src/audio/wav.ts';
import { WavReader, loadAudio } from '../../src/audio/wav-reader.ts';
import { type Engine, openEngine } from '../../src/engine/engine.ts';
import type { StreamOutput } from '../../src/engine/outputs.ts';
import type { EventEndReason } from '../../src/events/tracker.ts';
import { fromWavReader } from '../../src/stream/sources.ts';
import { REPO_ROOT, tempDir } from '../helpers/fixtures.ts';
import { writeFile } from 'node:fs/promises';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let engine: Engine;
before(async () => {
  tmp = await tempDir();
  engine = await openEngine({ backend: 'wasm' });
});
after(async () => {
  engine.dispose();
  await tmp.cleanup();
});

test('48 kHz from a recorder, through liveMicrophone and the engine, gives the windows replay gives the same 48 kHz recording', {
  timeout: 120_000,
}, async () => {
  const rate = DEFAULT_MICROPHONE.captureRateHz;
  assert.equal(rate, 48000);
  const recording = (await loadAudio(join(REPO_ROOT, 'samples/water.wav'), rate)).subarray(0, 3 * rate);
  const wavPath = join(tmp.dir, 'water-48k.wav');
  await writeFile(wavPath, encodeWav(recording, rate));
  const samples = (await readWav(wavPath)).samples; // 16-bit, as a recorder delivers it

  const reader = await WavReader.open(wavPath);
  const replay = await lastValueFrom(engine.stream(fromWavReader(reader), 'replay', { sampleRateHz: rate }).pipe(toArray()));
  const replayImages = replay.flatMap((o) => (o.type === 'window' ? [Buffer.from(o.rendered.image).toString('base64')] : []));

  // the recorder: raw s16le in 100 ms pieces (a sample split across pieces, as pipes do), then it keeps running
  const bytes = encodePcm(samples, 's16le');
  const pieces: Uint8Array[] = [];
  for (let o = 0; o < bytes.length; o += 9601) pieces.push(bytes.subarray(o, Math.min(bytes.length, o + 9601)));
  const mic$ = liveMicrophone({ sampleRateHz: rate, source: () => concat(from(pieces), NEVER) });
  const stop = new Subject<EventEndReason>();
  const outs: StreamOutput[] = [];
  const windows = replayImages.length - 1; // all but the one the end-of-file flush completes
  await new Promise<void>((resolve, reject) => {
    engine.stream(mic$, 'mic', { sampleRateHz: rate, stop }).subscribe({
      next: (o) => {
        outs.push(o);
        if (o.type === 'prediction' && outs.filter((x) => x.type === 'prediction').length === windows) stop.next('stopped');
      },
      error: reject,
      complete: () => resolve(),
    });
  });
  const micImages = outs.flatMap((o) => (o.type === 'window' ? [Buffer.from(o.rendered.image).toString('base64')] : []));
  assert.equal(micImages.length, windows);
  micImages.forEach((img, i) => {
    assert.equal(img, replayImages[i], `window ${i}`);
  });
  const micScores = outs.flatMap((o) => (o.type === 'prediction' ? [o.message.scores] : []));
  const replayScores = replay.flatMap((o) => (o.type === 'prediction' ? [o.message.scores] : []));
  assert.deepEqual(micScores, replayScores.slice(0, windows));
  const last = outs.at(-1)!;
  assert.ok(last.type === 'ended' && last.reason === 'stopped');
});
