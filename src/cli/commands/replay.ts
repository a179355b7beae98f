/** `soundee replay <file.wav>`: classify a recording window by window. */
import { type Command } from 'commander';
import { lastValueFrom, tap } from 'rxjs';
import { BatchQueue } from '../../model/classifier.ts';
import { startServer } from '../../server/server.ts';
import { Backlog, type RenderedWindow, classifyStream } from '../../stream/operators.ts';
import { fromWavFile } from '../../stream/sources.ts';
import { type ModelCliOptions, info, modelOptions, openClassifier, parseNumber } from '../common.ts';
import { predictionHeader, predictionRow, roundPrediction } from '../format.ts';
import { type ServerCliOptions, announce, serverOptions, serverSecurity } from './serve.ts';

interface ReplayOptions extends ModelCliOptions, ServerCliOptions {
  json?: boolean;
  realtime?: boolean;
  port?: number;
}

export function replayCommand(program: Command): void {
  modelOptions(
    serverOptions(
      program
        .command('replay')
        .description('classify a WAV file window by window (one line per hop); optionally serve the predictions and the dashboard')
        .argument('<file.wav>', 'WAV file: 8/16/24/32-bit integer or 32-bit float PCM, any rate (resampled), any channel count (downmixed)')
        .option('--json', 'print one JSON object per window on stdout instead of a table')
        .option('--realtime', 'pace the file in real time (as if it were being recorded) instead of as fast as possible')
        .option('--port <n>', 'also serve predictions and the live dashboard on this port (0 = any free port)', parseNumber('--port', { min: 0, max: 65535, integer: true })),
    ),
  ).action(async (file: string, o: ReplayOptions) => {
    const classifier = await openClassifier(o);
    const c = classifier.features;
    const queue = new BatchQueue(classifier);
    const server =
      o.port === undefined
        ? undefined
        : await startServer({
            ...serverSecurity(o),
            port: o.port,
            hello: () => ({
              model: { name: classifier.name, architecture: classifier.architecture },
              classes: classifier.classes,
              features: c,
              confidenceThreshold: classifier.threshold,
              streams: [file],
            }),
          });
    if (server) announce(server, Boolean(o.token ?? process.env.SOUNDEE_TOKEN));
    const backlog = new Backlog();
    const started = performance.now();
    let windows = 0;
    let lastEndMs = 0;
    try {
      await lastValueFrom(
        classifyStream(fromWavFile(file, { sampleRateHz: c.sampleRateHz, pace: o.realtime ? 'realtime' : 'fast', gate: backlog }), {
          streamId: file,
          queue,
          backlog,
          // the dashboard's spectrogram and model-input view (skipped while nobody watches)
          ...(server ? { onRendered: (r: RenderedWindow) => server.publishWindow(file, r) } : {}),
        }).pipe(
          tap((p) => {
            windows++;
            lastEndMs = p.endMs;
            const r = roundPrediction(p);
            if (windows === 1 && !o.json) console.log(predictionHeader);
            console.log(o.json ? JSON.stringify(r) : predictionRow(r));
            server?.publish({ type: 'prediction', ...r });
          }),
        ),
        { defaultValue: undefined },
      );
    } finally {
      await server?.close();
      classifier.dispose();
    }
    const wallMs = performance.now() - started;
    if (windows === 0) info(`soundee: ${file} is shorter than one ${c.windowMillis} ms window; nothing to classify`);
    else info(`soundee: ${windows} windows, ${(lastEndMs / 1000).toFixed(2)} s of audio in ${(wallMs / 1000).toFixed(2)} s (${(lastEndMs / wallMs).toFixed(1)}× real time)`);
  });
}
