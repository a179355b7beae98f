/**
 * Builders of the messages the pipeline produces: predictions (rounded for the wire, by the engine's
 * one encoder) and the dashboard's spectrogram columns, rendered by the one feature path (`colorize`, the same colormap
 * and dB mapping the model input uses).
 */
import { Buffer } from 'node:buffer';
import { type FeatureConfig, framesPerHop } from '../config.ts';
import { colorize } from '../features/render.ts';
import type { Prediction, RenderedWindow } from '../stream/operators.ts';
import { encodePrediction } from '../engine/wire.ts';
import type { PredictionMessage, RgbImageData, SpectrogramMessage } from '../protocol/index.ts';

/** A prediction as sent: the one wire encoder (src/engine/wire.ts). */
export const predictionMessage: (p: Prediction) => PredictionMessage = encodePrediction;

function rgb(width: number, height: number, bytes: Uint8Array): RgbImageData {
  return { width, height, data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') };
}

/**
 * The dashboard's view of a rendered window: the spectrogram columns it adds (the whole window for
 * window 0, then the newest hop's frames) and its model input image.
 */
export function spectrogramMessage(streamId: string, r: RenderedWindow, c: FeatureConfig): SpectrogramMessage {
  const w = r.window;
  const img = colorize(w, c);
  const n = w.index === 0 ? img.width : Math.min(img.width, framesPerHop(c));
  const cols = new Uint8Array(n * img.height * 3);
  for (let y = 0; y < img.height; y++) {
    const src = (y * img.width + (img.width - n)) * 3;
    cols.set(img.data.subarray(src, src + n * 3), y * n * 3);
  }
  const startMs = (w.startSample / c.sampleRateHz) * 1000;
  return {
    type: 'spectrogram',
    streamId,
    index: w.index,
    startMs,
    endMs: startMs + c.windowMillis,
    columns: rgb(n, img.height, cols),
    input: rgb(c.imageSize, c.imageSize, r.image),
  };
}
