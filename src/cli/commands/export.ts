/**
 * `soundee export`: writes a model's network as ONNX (`model.onnx` beside its weights) for
 * onnxruntime and other runtimes. The file holds the network only (batch norm folded, float32, NHWC
 * input, dynamic batch); classes and feature settings stay in `metadata.json`, and a fingerprint of
 * the network it came from lets Soundee notice when it is stale (src/model/onnx/model-file.ts).
 */
import { readFile } from 'node:fs/promises';
import type * as tf from '@tensorflow/tfjs';
import { type Command, Option } from 'commander';
import { SoundeeError } from '../../config.ts';
import { initBackend } from '../../model/backend.ts';
import { TfjsEngine } from '../../model/inference.ts';
import { loadModel } from '../../model/io.ts';
import { ONNX_OPSET } from '../../model/onnx/export.ts';
import { FINGERPRINT_KEY, ONNX_FILE, onnxMetadata, writeOnnxModel } from '../../model/onnx/model-file.ts';
import { OnnxEngine, loadOnnxRuntime } from '../../model/onnx/runtime.ts';
import { DEFAULT_MODEL_DIR } from '../../paths.ts';
import { info } from '../common.ts';

/** Largest difference between tfjs's and onnxruntime's outputs that the check accepts. */
const MAX_CHECK_DIFF = 1e-4;
/** Random inputs the check runs through both engines. */
const CHECK_BATCH = 8;

interface ExportOptions {
  model: string;
  format: 'onnx';
  out?: string;
  check: boolean;
}

export function exportCommand(program: Command): void {
  program
    .command('export')
    .description(
      "write a model's network as ONNX (model.onnx beside its weights: batch norm folded, float32, NHWC input, dynamic batch) for onnxruntime and other runtimes; classes and feature settings stay in metadata.json",
    )
    .option('--model <dir>', 'model directory (model.json, weights.bin, metadata.json)', DEFAULT_MODEL_DIR)
    .addOption(new Option('--format <name>', 'export format').choices(['onnx']).default('onnx'))
    .option('--out <file>', `where to write (default: ${ONNX_FILE} in the model directory, where Soundee looks for it)`)
    .option(
      '--no-check',
      'skip running the exported file with onnxruntime-node against TensorFlow.js (done by default when it is installed)',
    )
    .action(async (o: ExportOptions) => {
      await initBackend('auto', null);
      const loaded = await loadModel(o.model);
      try {
        const written = await writeOnnxModel(loaded.model, o.model, o.out);
        const what = `${written.path} (${(written.bytes / 1e6).toFixed(2)} MB, opset ${ONNX_OPSET}, float32; from network sha256 ${written.fingerprint.slice(0, 12)}…)`;
        if (!o.check) return info(`soundee: wrote ${what}`);
        const missing = await loadOnnxRuntime().then(
          () => undefined,
          (e: Error) => e.message,
        );
        if (missing) return info(`soundee: wrote ${what}; not checked: ${missing}`);
        const diff = await checkAgainstTfjs(loaded.model, written.path, written.fingerprint);
        if (!(diff <= MAX_CHECK_DIFF))
          throw new SoundeeError(
            'ERR_ONNX_EXPORT',
            `wrote ${written.path}, but onnxruntime's outputs differ from TensorFlow.js's by ${diff.toExponential(1)} (> ${MAX_CHECK_DIFF}); please report this model`,
          );
        info(
          `soundee: wrote ${what}; onnxruntime-node ${OnnxEngine.version} agrees with TensorFlow.js within ${diff.toExponential(1)} on ${CHECK_BATCH} random inputs`,
        );
      } finally {
        loaded.model.dispose();
      }
    });
}

/**
 * Reads the written file back, checks its fingerprint, runs random inputs through it on onnxruntime
 * and through the network on TensorFlow.js; returns the largest output difference.
 */
async function checkAgainstTfjs(model: tf.LayersModel, path: string, fingerprint: string): Promise<number> {
  const bytes = await readFile(path);
  if (onnxMetadata(bytes)[FINGERPRINT_KEY] !== fingerprint)
    throw new SoundeeError('ERR_ONNX_EXPORT', `${path} does not carry the fingerprint it was written with`);
  const inputShape = model.inputs[0]!.shape.slice(1).map((d) => d ?? 1);
  const input = new Float32Array(CHECK_BATCH * inputShape.reduce((a, b) => a * b, 1)).map(() => Math.random());
  const tfjs = new TfjsEngine(model);
  const onnx = new OnnxEngine(bytes, inputShape);
  try {
    const a = tfjs.run(input, CHECK_BATCH);
    const b = onnx.run(input, CHECK_BATCH);
    let diff = a.length === b.length ? 0 : Number.POSITIVE_INFINITY;
    for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    return diff;
  } finally {
    tfjs.dispose();
    onnx.dispose();
  }
}
