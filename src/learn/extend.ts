/**
 * Network surgery on the final Dense layer: a copy of a model with one more output (a fitted row
 * appended to the kernel and bias) or one fewer. Every other layer, and every kept row of the head,
 * keeps its weights bit for bit; the result is a plain tfjs layers model of the same topology, so it
 * saves, loads, folds and exports like any other.
 */
import * as tf from '@tensorflow/tfjs';
import { EXTRA_FEATURES_LAYER, finalDense, pooledStages, stageOutputs } from './embed.ts';

interface LayerJson {
  class_name: string;
  config: { name: string; units?: number };
}

/** A copy of `model` whose final Dense layer has `units` outputs; `headWeights` gives its kernel and bias. */
async function rebuild(
  model: tf.LayersModel,
  units: number,
  headWeights: (kernel: tf.Tensor, bias: tf.Tensor) => tf.Tensor[],
): Promise<tf.LayersModel> {
  const head = finalDense(model);
  const topology = model.toJSON(null, false) as unknown as { config: { layers: LayerJson[] } };
  const layer = topology.config.layers.find((l) => l.config.name === head.name);
  if (!layer) throw new Error(`layer ${head.name} not found in the model's topology`);
  layer.config.units = units;
  const copy = await tf.models.modelFromJSON({ modelTopology: topology as unknown as tf.io.ModelJSON['modelTopology'] });
  const created: tf.Tensor[] = [];
  try {
    for (const l of copy.layers) {
      const source = model.getLayer(l.name);
      if (l.name === head.name) {
        const [k, b] = source.getWeights();
        const w = headWeights(k!, b!);
        created.push(...w);
        l.setWeights(w);
      } else {
        const w = source.getWeights();
        if (w.length) l.setWeights(w);
      }
    }
  } catch (e) {
    copy.dispose();
    throw e;
  } finally {
    tf.dispose(created);
  }
  return copy;
}

/**
 * A copy of `model` with one more class: the fitted row (`w`, length = the head's input size, and
 * bias `b`) appended after the existing outputs.
 */
export function withClass(model: tf.LayersModel, w: Float32Array, b: number): Promise<tf.LayersModel> {
  const [kernel] = finalDense(model).getWeights();
  const [dims, classes] = kernel!.shape as [number, number];
  if (w.length !== dims) throw new RangeError(`the new row has ${w.length} weights, the head reads ${dims} features`);
  return rebuild(model, classes + 1, (k, bias) =>
    tf.tidy(() => [tf.concat([k, tf.tensor2d(w, [dims, 1])], 1), tf.concat([bias, tf.tensor1d([b])])]),
  );
}

/** A copy of `model` without output `index` (the other outputs keep their order and weights). */
export async function withoutClass(model: tf.LayersModel, index: number): Promise<tf.LayersModel> {
  const [kernel] = finalDense(model).getWeights();
  const classes = kernel!.shape[1]!;
  if (!(Number.isInteger(index) && index >= 0 && index < classes)) throw new RangeError(`no output ${index} in a head of ${classes}`);
  const keep = tf.tensor1d(
    Array.from({ length: classes }, (_, i) => i).filter((i) => i !== index),
    'int32',
  );
  try {
    return await rebuild(model, classes - 1, (k, bias) => tf.tidy(() => [tf.gather(k, keep, 1), tf.gather(bias, keep)]));
  } finally {
    keep.dispose();
  }
}

/**
 * A copy of `model` whose final Dense layer reads more features: its own input and, beside it, the
 * average and maximum of every residual stage's output (what `Embedder` computes with
 * `extraFeatures`). The original rows get zero weights on the new features, so the copy's outputs are
 * the original's. A model that already reads them is copied as it is.
 */
export async function withExtraFeatures(model: tf.LayersModel): Promise<tf.LayersModel> {
  const head = finalDense(model);
  const [kernel] = head.getWeights();
  const classes = kernel!.shape[1]!;
  const copy = await rebuild(model, classes, (k, b) => [k.clone(), b.clone()]);
  if (hasExtraFeatures(copy)) return copy;
  const oldHead = copy.getLayer(head.name);
  const input = oldHead.input as tf.SymbolicTensor;
  const extras = pooledStages(copy, stageOutputs(copy));
  if (!extras.length) return copy;
  const features = tf.layers.concatenate({ name: EXTRA_FEATURES_LAYER }).apply([input, ...extras]) as tf.SymbolicTensor;
  const dense = tf.layers.dense({ units: classes, activation: 'softmax', name: head.name });
  const output = dense.apply(features) as tf.SymbolicTensor;
  const extended = tf.model({ inputs: copy.inputs, outputs: output, name: copy.name });
  const [k, b] = oldHead.getWeights();
  const extraDims = features.shape[1]! - k!.shape[0]!;
  const w = tf.tidy(() => [tf.concat([k!, tf.zeros([extraDims, classes])], 0), b!.clone()]);
  dense.setWeights(w);
  tf.dispose(w);
  oldHead.dispose();
  return extended;
}

/** Whether the final Dense layer already reads the extra pooled features. */
export function hasExtraFeatures(model: tf.LayersModel): boolean {
  return (finalDense(model).inboundNodes[0]?.inboundLayers ?? []).some((l) => l.name === EXTRA_FEATURES_LAYER);
}
