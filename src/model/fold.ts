/**
 * An inference copy of a trained network with batch normalisation folded into the convolutions
 * before it, and ReLUs fused into them: conv → BN → ReLU becomes one convolution with a bias and a
 * fused activation. That is what a trained network computes, in a third of the operations: on the
 * WASM backend each op is a pass over the feature map, so the bundled ResNet-8 runs about 1.2–1.8×
 * faster (docs/performance.md). Results differ only by float rounding.
 *
 * Training keeps the original model (BN needs its statistics while it learns); only inference
 * (Classifier) uses the folded copy.
 */
import * as tf from '@tensorflow/tfjs';

interface LayerConfig {
  name: string;
  className: string;
  config: Record<string, unknown>;
  /** inboundNodes[node][input] = [layerName, nodeIndex, tensorIndex, kwargs] */
  inboundNodes: [string, number, number, unknown][][];
}

interface ModelConfig {
  name: string;
  layers: LayerConfig[];
  inputLayers: [string, number, number][];
  outputLayers: [string, number, number][];
}

/** Largest difference allowed between the original and the folded network's outputs on a check input. */
const MAX_DIFF = 1e-4;

/**
 * Returns a folded copy of `model`, or `model` itself when there is nothing to fold (no
 * Conv2D → BatchNormalization pair, a Sequential model, shared layers) or folding failed: the copy
 * could not be built, or it does not reproduce the original's outputs (checked on a random batch).
 * A failure is not silent: `onProblem` hears why (inference still works, on the unfolded network, at
 * its slower speed). The caller owns both models.
 * @param onProblem default: a process warning (code SOUNDEE_FOLD_FAILED), which Node prints on stderr.
 */
export function foldForInference(
  model: tf.LayersModel,
  onProblem: (message: string) => void = (message) => process.emitWarning(message, { code: 'SOUNDEE_FOLD_FAILED' }),
): tf.LayersModel {
  if (model instanceof tf.Sequential) return model;
  let folded: tf.LayersModel | undefined;
  try {
    folded = buildFolded(model);
    if (!folded) return model;
    if (!sameOutputs(model, folded)) {
      folded.dispose();
      onProblem(`${model.name}: the batch-norm-folded copy does not reproduce the network's outputs; running it unfolded (slower)`);
      return model;
    }
    return folded;
  } catch (e) {
    folded?.dispose();
    onProblem(`${model.name}: cannot fold batch norm into the convolutions (${(e as Error).message}); running it unfolded (slower)`);
    return model;
  }
}

function buildFolded(model: tf.LayersModel): tf.LayersModel | undefined {
  const config = structuredClone(model.getConfig()) as unknown as ModelConfig;
  if (!Array.isArray(config.layers) || !config.layers.every((l) => Array.isArray(l.inboundNodes) && l.inboundNodes.length <= 1))
    return undefined;
  const byName = new Map(config.layers.map((l) => [l.name, l]));
  const consumers = new Map<string, string[]>();
  for (const l of config.layers) for (const [src] of l.inboundNodes[0] ?? []) consumers.set(src, [...(consumers.get(src) ?? []), l.name]);
  const isOutput = (name: string) => config.outputLayers.some(([n]) => n === name);
  const onlyInput = (l: LayerConfig) => (l.inboundNodes[0]?.length === 1 ? byName.get(l.inboundNodes[0][0]![0]) : undefined);
  /** A conv whose single consumer is `next`, with nothing fused yet, that `next` may merge into. */
  const foldableConv = (next: LayerConfig) => {
    const conv = onlyInput(next);
    if (conv?.className !== 'Conv2D' || conv.config.activation !== 'linear' || conv.config.dataFormat !== 'channelsLast') return undefined;
    if ((consumers.get(conv.name) ?? []).length !== 1 || isOutput(conv.name)) return undefined;
    return conv;
  };
  const removed = new Map<string, string>(); // removed layer → the conv that replaces it
  const weights = new Map<string, tf.Tensor[]>(); // conv name → its new [kernel, bias]
  const layerWeights = (name: string) => model.getLayer(name).getWeights();

  for (const bn of config.layers) {
    if (bn.className !== 'BatchNormalization') continue;
    const axis = bn.config.axis as number;
    if (axis !== -1 && axis !== 3) continue;
    const conv = foldableConv(bn);
    if (!conv) continue;
    const [kernel, bias] = layerWeights(conv.name);
    const w = layerWeights(bn.name);
    let k = 0;
    const gamma = bn.config.scale ? w[k++] : undefined;
    const beta = bn.config.center ? w[k++] : undefined;
    const mean = w[k++]!;
    const variance = w[k++]!;
    const [newKernel, newBias] = tf.tidy(() => {
      const s = tf.div(gamma ?? tf.onesLike(mean), tf.sqrt(tf.add(variance, bn.config.epsilon as number)));
      const b = tf.add(beta ?? tf.zerosLike(mean), tf.mul(tf.sub(bias ?? tf.zerosLike(mean), mean), s));
      return [tf.mul(kernel!, s), b];
    });
    weights.set(conv.name, [newKernel!, newBias!]);
    conv.config.useBias = true;
    removed.set(bn.name, conv.name);
    consumers.set(conv.name, consumers.get(bn.name) ?? []);
    rewire(config, bn.name, conv.name);
  }
  if (removed.size === 0) return undefined;
  for (const relu of config.layers) {
    if (removed.has(relu.name)) continue;
    const plainRelu =
      relu.className === 'ReLU' ? relu.config.maxValue == null : relu.className === 'Activation' && relu.config.activation === 'relu';
    if (!plainRelu) continue;
    const conv = foldableConv(relu);
    if (!conv) continue;
    conv.config.activation = 'relu';
    removed.set(relu.name, conv.name);
    consumers.set(conv.name, consumers.get(relu.name) ?? []);
    rewire(config, relu.name, conv.name);
  }
  config.layers = config.layers.filter((l) => !removed.has(l.name));
  const Container = tf.LayersModel as unknown as { fromConfig(cls: unknown, c: unknown): tf.LayersModel };
  const folded = Container.fromConfig(tf.LayersModel, config);
  try {
    for (const layer of folded.layers) {
      const w = weights.get(layer.name) ?? layerWeights(layer.name);
      if (w.length) layer.setWeights(w);
    }
  } finally {
    tf.dispose([...weights.values()].flat());
  }
  return folded;
}

/** Points every input and output that named `from` at `to`. */
function rewire(config: ModelConfig, from: string, to: string): void {
  for (const l of config.layers) for (const input of l.inboundNodes[0] ?? []) if (input[0] === from) input[0] = to;
  for (const o of config.outputLayers) if (o[0] === from) o[0] = to;
}

function sameOutputs(a: tf.LayersModel, b: tf.LayersModel): boolean {
  return tf.tidy(() => {
    const shape = a.inputs[0]!.shape.map((d) => d ?? 2);
    const x = tf.randomUniform(shape, 0, 1, 'float32', 3);
    const ya = a.predict(x) as tf.Tensor;
    const yb = b.predict(x) as tf.Tensor;
    if (ya.shape.join() !== yb.shape.join()) return false;
    return tf.max(tf.abs(tf.sub(ya, yb))).dataSync()[0]! <= MAX_DIFF;
  });
}
