/**
 * Network architectures for 32×32×3 spectrogram images.
 *
 * `seed-cnn` is the capstone's Keras network, layer for layer; `resnet` is a small residual network
 * (ResNet-8 style: three stages of one residual block each, batch norm, global average pooling).
 * Dropout layers take no seed on purpose: a seeded tfjs dropout draws the same mask on every call.
 */
import * as tf from '@tensorflow/tfjs';

/** Names accepted by `--arch`. */
export const ARCHITECTURES = ['seed-cnn', 'resnet'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

/** Options shared by every architecture. */
export interface ArchitectureOptions {
  /** Input image side in pixels (square), default 32. */
  imageSize?: number;
  /** Number of output classes (softmax units). */
  numClasses: number;
  /** Seed for the weight initialisers, so that runs are reproducible. */
  seed?: number;
  /** resnet only: channels of the three stages, default [16, 32, 64]. */
  widths?: readonly [number, number, number];
  /** resnet only: dropout before the classifier, default 0.3. */
  dropout?: number;
  /**
   * resnet only: how the last feature map becomes the classifier's input. 'gap' (default) pools over
   * time and frequency (classic global average pooling); 'freq' pools over time only (mean and max
   * per frequency row), keeping where in frequency the energy is. On the ambient set neither won
   * beyond seed noise (validation 0.59–0.63 both); the bundled model uses 'gap'.
   */
  head?: 'freq' | 'gap';
}

/** Builds the named architecture (uncompiled). */
export function buildModel(arch: Architecture, opts: ArchitectureOptions): tf.LayersModel {
  switch (arch) {
    case 'seed-cnn':
      return seedCnn(opts);
    case 'resnet':
      return resnet(opts);
    default: {
      const never: never = arch;
      throw new RangeError(`unknown architecture ${String(never)}; expected one of ${ARCHITECTURES.join(', ')}`);
    }
  }
}

/** True when `s` names an architecture. */
export function isArchitecture(s: string): s is Architecture {
  return (ARCHITECTURES as readonly string[]).includes(s);
}

function initializer(seed: number | undefined, k: number) {
  return seed === undefined ? 'glorotUniform' : tf.initializers.glorotUniform({ seed: seed + k });
}

/**
 * The capstone network: Conv50-Conv75-MaxPool-Dropout.25-Conv125-MaxPool-Dropout.25-Flatten-
 * Dense500-Dropout.4-Dense250-Dropout.3-Dense(n) softmax; 3×3 'same' convolutions with ReLU
 * (4,247,483 parameters for 8 classes).
 */
export function seedCnn({ imageSize = 32, numClasses, seed }: ArchitectureOptions): tf.Sequential {
  const m = tf.sequential({ name: 'seed_cnn' });
  const conv = (filters: number, k: number, inputShape?: number[]) =>
    tf.layers.conv2d({
      ...(inputShape ? { inputShape } : {}),
      filters,
      kernelSize: 3,
      strides: 1,
      padding: 'same',
      activation: 'relu',
      kernelInitializer: initializer(seed, k),
    });
  m.add(conv(50, 1, [imageSize, imageSize, 3]));
  m.add(conv(75, 2));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.dropout({ rate: 0.25 }));
  m.add(conv(125, 3));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.dropout({ rate: 0.25 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 500, activation: 'relu', kernelInitializer: initializer(seed, 4) }));
  m.add(tf.layers.dropout({ rate: 0.4 }));
  m.add(tf.layers.dense({ units: 250, activation: 'relu', kernelInitializer: initializer(seed, 5) }));
  m.add(tf.layers.dropout({ rate: 0.3 }));
  m.add(tf.layers.dense({ units: numClasses, activation: 'softmax', kernelInitializer: initializer(seed, 6) }));
  return m;
}

/**
 * ResNet-8 for 32×32 inputs: a 3×3 stem, then three stages (one basic residual block each,
 * strides 1, 2, 2), batch norm after every convolution, pooling over time (see `head`), dropout,
 * softmax. Image rows are frequency and columns time, so pooling over columns makes the network
 * indifferent to when in the window a sound happens but not to its pitch.
 */
export function resnet({
  imageSize = 32,
  numClasses,
  seed,
  widths = [16, 32, 64],
  dropout = 0.3,
  head = 'gap',
}: ArchitectureOptions): tf.LayersModel {
  let k = 100;
  const conv = (x: tf.SymbolicTensor, filters: number, kernelSize: number, strides: number) =>
    tf.layers
      .conv2d({
        filters,
        kernelSize,
        strides,
        padding: 'same',
        useBias: false,
        kernelInitializer: seed === undefined ? 'heNormal' : tf.initializers.heNormal({ seed: seed + k++ }),
      })
      .apply(x) as tf.SymbolicTensor;
  const bn = (x: tf.SymbolicTensor) => tf.layers.batchNormalization({ momentum: 0.9 }).apply(x) as tf.SymbolicTensor;
  const relu = (x: tf.SymbolicTensor) => tf.layers.reLU().apply(x) as tf.SymbolicTensor;

  const input = tf.input({ shape: [imageSize, imageSize, 3] });
  let x = relu(bn(conv(input, widths[0], 3, 1)));
  for (const [i, w] of widths.entries()) {
    const strides = i === 0 ? 1 : 2;
    let y = relu(bn(conv(x, w, 3, strides)));
    y = bn(conv(y, w, 3, 1));
    const shortcut = strides === 1 && i === 0 && w === widths[0] ? x : bn(conv(x, w, 1, strides));
    x = relu(tf.layers.add().apply([y, shortcut]) as tf.SymbolicTensor);
  }
  if (head === 'gap') x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  else {
    const cols = x.shape[2]!;
    const mean = tf.layers.averagePooling2d({ poolSize: [1, cols] }).apply(x) as tf.SymbolicTensor;
    const max = tf.layers.maxPooling2d({ poolSize: [1, cols] }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.flatten().apply(tf.layers.concatenate().apply([mean, max]) as tf.SymbolicTensor) as tf.SymbolicTensor;
  }
  x = tf.layers.dropout({ rate: dropout }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers
    .dense({ units: numClasses, activation: 'softmax', kernelInitializer: initializer(seed, 201) })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'resnet' });
}
