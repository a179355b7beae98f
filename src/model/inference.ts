/**
 * The inference engine behind a `Classifier`: a batch of model-input images in, the network's output
 * out. Two implementations: TensorFlow.js on whatever tfjs backend the process chose (the network
 * folded for inference, ./fold.ts), and onnxruntime-node on the same network exported to ONNX
 * (./onnx/). The engine returns the network's raw output; labelling, thresholds and any calibration
 * stay in the classifier, so both engines serve every model alike.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { SoundeeError } from '../config.ts';
import { activeInference } from './backend.ts';
import { foldForInference } from './fold.ts';
import { ONNX_FILE, onnxModelFor } from './onnx/model-file.ts';
import type { InferenceEngine } from './inference-engine.ts';
import { OnnxEngine } from './onnx/runtime.ts';

export type { InferenceEngine } from './inference-engine.ts';

/**
 * TensorFlow.js inference on the process's tfjs backend, on a copy of the network with batch norm
 * folded (./fold.ts). The caller keeps ownership of `model`; the folded copy is the engine's.
 */
export class TfjsEngine implements InferenceEngine {
  readonly name: string;
  private readonly model: tf.LayersModel;
  private readonly inputShape: number[];
  private disposed = false;

  /** @param onWarning hears why folding failed (the network then runs unfolded); default a process warning (./fold.ts). */
  constructor(
    private readonly source: tf.LayersModel,
    onWarning?: (message: string) => void,
  ) {
    this.model = foldForInference(source, onWarning);
    this.inputShape = source.inputs[0]!.shape.slice(1).map((d) => d ?? 1);
    this.name = `tfjs-${tf.getBackend()}`;
  }

  run(input: Float32Array, batch: number): Float32Array {
    if (this.disposed) throw new SoundeeError('ERR_DISPOSED', 'Cannot run: the tfjs engine has been disposed');
    return tf.tidy(() => {
      const y = this.model.predict(tf.tensor(input, [batch, ...this.inputShape], 'float32')) as tf.Tensor;
      return y.dataSync() as Float32Array;
    });
  }

  dispose(): void {
    if (!this.disposed && this.model !== this.source) this.model.dispose();
    this.disposed = true;
  }
}

/** Which engine a `Classifier` runs on: the process's choice (default), tfjs, onnx, or an engine built by the caller. */
export type EngineChoice = 'tfjs' | 'onnx';

/** Options of {@link createInferenceEngine}. */
export interface InferenceEngineOptions {
  /** Default: the engine `initBackend` chose for this process (tfjs before it runs). */
  engine?: EngineChoice;
  /** onnx intra-op threads (default: the process's, see BackendOptions.threads). */
  threads?: number;
  /** tfjs: hears problems that do not stop inference (batch-norm folding failed). Default: a process warning. */
  onWarning?: (message: string) => void;
}

/**
 * Builds the engine for a loaded network. With onnx, the network runs from `dir/model.onnx` when that
 * file was exported from this very network, else from an in-memory export (./onnx/model-file.ts);
 * a stale file gets a notice. When `auto` chose onnx and the network cannot be exported (a layer
 * the exporter does not handle), the notice says so and tfjs runs it instead.
 * @throws SoundeeError ERR_ONNX_EXPORT | ERR_MODEL_INVALID | ERR_BACKEND when onnx was asked for explicitly and cannot run the model.
 */
export function createInferenceEngine(
  loaded: { model: tf.LayersModel; dir?: string },
  options: InferenceEngineOptions = {},
): InferenceEngine {
  const settings = activeInference();
  const engine = options.engine ?? settings.engine;
  if (engine === 'tfjs') return new TfjsEngine(loaded.model, options.onWarning);
  const fallback = options.engine === undefined && settings.fallback;
  try {
    const { bytes, source } = onnxModelFor(loaded.model, loaded.dir);
    if (source === 'exported-stale')
      settings.log?.(
        `soundee: ${join(loaded.dir!, ONNX_FILE)} does not match this model's network (stale: exported before the weights changed; or damaged); running a fresh in-memory export instead. \`soundee export --model ${loaded.dir}\` updates the file.`,
      );
    const inputShape = loaded.model.inputs[0]!.shape.slice(1).map((d) => d ?? 1);
    return new OnnxEngine(bytes, inputShape, { threads: options.threads ?? settings.threads });
  } catch (e) {
    if (!fallback) throw e;
    const tfjsEngine = new TfjsEngine(loaded.model, options.onWarning);
    settings.log?.(`soundee: the onnx engine cannot run this model (${(e as Error).message}); using ${tfjsEngine.name}`);
    return tfjsEngine;
  }
}
