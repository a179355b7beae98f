/**
 * The project's own exporter from TensorFlow.js layers models to ONNX: the network as `Classifier`
 * runs it (batch norm folded into the convolutions, ./../fold.ts), float32 weights (float16 or uint8
 * storage is widened when tfjs decodes the weights), opset 13, a dynamic batch dimension, and the
 * NHWC input the tfjs model takes. Inside, 4-D values are NCHW (ONNX's convolution layout, the one
 * onnxruntime's CPU kernels are written for): one Transpose after the input, one before a Flatten,
 * so that the flattened order, and so every Dense weight, stays tfjs's.
 *
 * Written against the ONNX protobuf schema with `onnx-proto` (protobufjs); no Python round-trip.
 * Supported layers: the ones Soundee's architectures use and their close relatives (Conv2D, Dense,
 * BatchNormalization, ReLU/Activation/Softmax, Max/AveragePooling2D, GlobalAverage/MaxPooling2D,
 * Flatten, Add/Subtract/Multiply/Average/Maximum/Minimum, Concatenate, Dropout and other layers that
 * are identities at inference). Anything else is refused with ERR_ONNX_EXPORT, naming the layer.
 */
import * as tf from '@tensorflow/tfjs';
import onnxProto from 'onnx-proto';
import { SoundeeError } from '../../config.ts';
import { foldForInference } from '../fold.ts';

const { onnx } = onnxProto;

/** The ONNX operator set the exporter writes (every op it emits exists unchanged from 13 on). */
export const ONNX_OPSET = 13;
/** IR version 7 is the one that introduced opset 13; any runtime that reads opset 13 reads it. */
const IR_VERSION = 7;
/** Name of the graph's input (`[batch, height, width, channels]`, float32) and output (`[batch, units]`). */
export const ONNX_INPUT = 'input';
export const ONNX_OUTPUT = 'output';

/** Options of {@link exportToOnnx}. */
export interface OnnxExportOptions {
  /** Key–value pairs stored in the model's `metadata_props` (e.g. the source fingerprint). */
  metadata?: Record<string, string>;
  /** Graph name (default: the tfjs model's name). */
  name?: string;
  /** `producer_version` (default "0"). */
  producerVersion?: string;
  /** Fold batch norm into convolutions first (default true; ../fold.ts checks that the outputs agree). */
  fold?: boolean;
}

/** A value in the graph being built: its ONNX name and whether it is a 4-D NCHW image (else 2-D). */
interface Value {
  name: string;
  rank: number;
}

type Attribute = InstanceType<typeof onnx.AttributeProto>;
type AttributeValue = number | number[] | { float: number };

function exportError(message: string): never {
  throw new SoundeeError('ERR_ONNX_EXPORT', message);
}

/**
 * Exports a tfjs layers model (one image input, one output) to an ONNX model.
 * @returns the serialised `ModelProto`.
 * @throws SoundeeError ERR_ONNX_EXPORT for a layer or setting the exporter does not handle.
 */
export function exportToOnnx(model: tf.LayersModel, options: OnnxExportOptions = {}): Uint8Array {
  const folded = options.fold === false ? model : foldForInference(model);
  try {
    return new GraphBuilder(folded, options).build();
  } finally {
    if (folded !== model) folded.dispose();
  }
}

class GraphBuilder {
  private readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  private readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  /** tfjs symbolic tensor id → ONNX value. */
  private readonly values = new Map<number, Value>();
  private readonly usedNames = new Set<string>();

  constructor(
    private readonly model: tf.LayersModel,
    private readonly options: OnnxExportOptions,
  ) {}

  build(): Uint8Array {
    const { model } = this;
    if (model.inputs.length !== 1 || model.outputs.length !== 1)
      exportError(`the model has ${model.inputs.length} inputs and ${model.outputs.length} outputs; the exporter handles one of each`);
    const input = model.inputs[0]!;
    const inShape = input.shape;
    if (inShape.length !== 4 || inShape.slice(1).some((d) => d == null))
      exportError(`the model's input shape [${inShape.join(', ')}] is not [batch, height, width, channels]`);
    this.usedNames.add(ONNX_INPUT);
    // NHWC in, as the tfjs model takes it; NCHW inside
    this.values.set(input.id, { name: this.node('Transpose', [ONNX_INPUT], { perm: [0, 3, 1, 2] }), rank: 4 });

    for (const layer of model.layers) this.layer(layer);

    const out = model.outputs[0]!;
    let result = this.values.get(out.id) ?? exportError(`the model's output ${out.name} was not produced by any layer`);
    if (result.rank === 4) result = { name: this.node('Transpose', [result.name], { perm: [0, 2, 3, 1] }), rank: 4 };
    this.nodes.push(onnx.NodeProto.create({ opType: 'Identity', input: [result.name], output: [ONNX_OUTPUT], name: 'output_identity' }));

    const batch = onnx.TensorShapeProto.Dimension.create({ dimParam: 'batch' });
    const dims = (shape: (number | null)[]) => [
      batch,
      ...shape.slice(1).map((d) => onnx.TensorShapeProto.Dimension.create({ dimValue: d! })),
    ];
    const valueInfo = (name: string, shape: (number | null)[]) =>
      onnx.ValueInfoProto.create({
        name,
        type: onnx.TypeProto.create({
          tensorType: onnx.TypeProto.Tensor.create({ elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims(shape) } }),
        }),
      });
    const graph = onnx.GraphProto.create({
      name: this.options.name ?? model.name,
      node: this.nodes,
      initializer: this.initializers,
      input: [valueInfo(ONNX_INPUT, inShape)],
      output: [valueInfo(ONNX_OUTPUT, out.shape)],
    });
    const proto = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: ONNX_OPSET })],
      producerName: 'soundee',
      producerVersion: this.options.producerVersion ?? '0',
      graph,
      metadataProps: Object.entries(this.options.metadata ?? {}).map(([key, value]) => onnx.StringStringEntryProto.create({ key, value })),
    });
    return onnx.ModelProto.encode(proto).finish();
  }

  /** A fresh value name based on `base`. */
  private fresh(base: string): string {
    const clean = base.replace(/[^A-Za-z0-9_./-]/g, '_');
    let name = clean;
    for (let i = 2; this.usedNames.has(name); i++) name = `${clean}_${i}`;
    this.usedNames.add(name);
    return name;
  }

  /** Appends a node with one output; returns the output's name. Attributes: number → INT, number[] → INTS, { float } → FLOAT. */
  private node(opType: string, inputs: string[], attrs: Record<string, AttributeValue> = {}, outName?: string): string {
    const output = this.fresh(outName ?? opType.toLowerCase());
    const { AttributeType } = onnx.AttributeProto;
    const attribute: Attribute[] = Object.entries(attrs).map(([name, v]) =>
      Array.isArray(v)
        ? onnx.AttributeProto.create({ name, type: AttributeType.INTS, ints: v })
        : typeof v === 'number'
          ? onnx.AttributeProto.create({ name, type: AttributeType.INT, i: v })
          : onnx.AttributeProto.create({ name, type: AttributeType.FLOAT, f: v.float }),
    );
    this.nodes.push(onnx.NodeProto.create({ opType, input: inputs, output: [output], name: output, attribute }));
    return output;
  }

  /** Adds a float32 initializer; returns its name. */
  private constant(base: string, dims: number[], data: Float32Array): string {
    const name = this.fresh(base);
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.initializers.push(onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: raw }));
    return name;
  }

  private layer(layer: tf.layers.Layer): void {
    const className = layer.getClassName();
    if (className === 'InputLayer') return;
    if (layer.inboundNodes.length !== 1)
      exportError(`layer ${layer.name} (${className}) is used more than once; shared layers are not exported`);
    const node = layer.inboundNodes[0]!;
    const inputs = node.inputTensors.map(
      (t) => this.values.get(t.id) ?? exportError(`layer ${layer.name} (${className}): input ${t.name} is not produced before it`),
    );
    if (node.outputTensors.length !== 1) exportError(`layer ${layer.name} (${className}) has ${node.outputTensors.length} outputs`);
    const out = this.convert(layer, className, inputs, layer.getConfig());
    this.values.set(node.outputTensors[0]!.id, out);
  }

  /** Emits the nodes of one layer; returns its output value. */
  private convert(layer: tf.layers.Layer, className: string, inputs: Value[], config: tf.serialization.ConfigDict): Value {
    const x = inputs[0]!;
    const name = layer.name;
    switch (className) {
      case 'Conv2D':
        return this.conv2d(layer, x, config);
      case 'Dense':
        return this.dense(layer, x, config);
      case 'BatchNormalization':
        return this.batchNorm(layer, x, config);
      case 'Activation':
        return this.activation(x, config.activation as string, name);
      case 'ReLU': {
        if (config.maxValue != null) return this.clip(x, 0, config.maxValue as number, name);
        return { name: this.node('Relu', [x.name], {}, name), rank: x.rank };
      }
      case 'Softmax':
        return this.softmax(x, (config.axis as number | undefined) ?? -1, name);
      case 'MaxPooling2D':
      case 'AveragePooling2D':
        return this.pool(className === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', layer, x, config);
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D': {
        this.requireChannelsLast(config, name);
        if (x.rank !== 4) exportError(`layer ${name} (${className}) expects a 4-D input`);
        const pooled = this.node(className === 'GlobalMaxPooling2D' ? 'GlobalMaxPool' : 'GlobalAveragePool', [x.name], {}, name);
        if (config.keepDims === true) return { name: pooled, rank: 4 };
        return { name: this.node('Flatten', [pooled], { axis: 1 }, `${name}_flat`), rank: 2 };
      }
      case 'Flatten': {
        if (x.rank === 2) return x;
        // back to NHWC first: the flattened order (and so the next Dense's weights) is tfjs's
        const nhwc = this.node('Transpose', [x.name], { perm: [0, 2, 3, 1] }, `${name}_nhwc`);
        return { name: this.node('Flatten', [nhwc], { axis: 1 }, name), rank: 2 };
      }
      case 'Add':
      case 'Subtract':
      case 'Multiply':
      case 'Maximum':
      case 'Minimum':
      case 'Average':
        return this.merge(className, inputs, name);
      case 'Concatenate': {
        if (inputs.some((v) => v.rank !== x.rank)) exportError(`layer ${name} (Concatenate) joins values of different ranks`);
        return {
          name: this.node(
            'Concat',
            inputs.map((v) => v.name),
            { axis: this.axis((config.axis as number) ?? -1, x.rank) },
            name,
          ),
          rank: x.rank,
        };
      }
      case 'Dropout':
      case 'SpatialDropout1D':
      case 'GaussianNoise':
      case 'GaussianDropout':
      case 'AlphaDropout':
        return x; // identities at inference
      default:
        return exportError(`layer ${name} (${className}) cannot be exported to ONNX (not supported by the exporter)`);
    }
  }

  private requireChannelsLast(config: tf.serialization.ConfigDict, name: string): void {
    if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast')
      exportError(`layer ${name}: dataFormat ${String(config.dataFormat)} is not supported (channelsLast only)`);
  }

  /** tfjs axis of an NHWC (rank 4) or 2-D value → ONNX axis of the same value here (NCHW for rank 4). */
  private axis(axis: number, rank: number): number {
    const a = axis < 0 ? axis + rank : axis;
    if (rank !== 4) return a;
    return [0, 2, 3, 1][a] ?? exportError(`axis ${axis} out of range for a 4-D value`);
  }

  /** Explicit ONNX pads [top, left, bottom, right] for tfjs 'same' (extra padding at the end, as TensorFlow) or 'valid'. */
  private pads(
    layerName: string,
    inShape: (number | null)[],
    kernel: number[],
    strides: number[],
    dilations: number[],
    padding: string,
  ): number[] {
    if (padding === 'valid') return [0, 0, 0, 0];
    if (padding !== 'same') exportError(`layer ${layerName}: padding '${padding}' is not supported`);
    const begin: number[] = [];
    const end: number[] = [];
    for (let i = 0; i < 2; i++) {
      const size = inShape[1 + i] ?? exportError(`layer ${layerName}: 'same' padding needs a known input size`);
      const effective = (kernel[i]! - 1) * dilations[i]! + 1;
      const out = Math.ceil(size / strides[i]!);
      const total = Math.max((out - 1) * strides[i]! + effective - size, 0);
      begin.push(Math.floor(total / 2));
      end.push(total - Math.floor(total / 2));
    }
    return [...begin, ...end];
  }

  private conv2d(layer: tf.layers.Layer, x: Value, config: tf.serialization.ConfigDict): Value {
    const name = layer.name;
    this.requireChannelsLast(config, name);
    if (x.rank !== 4) exportError(`layer ${name} (Conv2D) expects a 4-D input`);
    const pair = (v: unknown) => (Array.isArray(v) ? (v as number[]) : [v as number, v as number]);
    const kernelSize = pair(config.kernelSize);
    const strides = pair(config.strides ?? 1);
    const dilations = pair(config.dilationRate ?? 1);
    const [kernel, bias] = layer.getWeights();
    if (kernel?.dtype !== 'float32') exportError(`layer ${name} (Conv2D): no float32 kernel`);
    const [kh, kw, cin, cout] = kernel.shape as [number, number, number, number];
    // tfjs [kh, kw, cin, cout] → ONNX [cout, cin, kh, kw]
    const w = tf.tidy(() => tf.transpose(kernel, [3, 2, 0, 1]).dataSync() as Float32Array);
    const inputs = [x.name, this.constant(`${name}/kernel`, [cout, cin, kh, kw], w)];
    if (config.useBias !== false && bias) inputs.push(this.constant(`${name}/bias`, [cout], bias.dataSync() as Float32Array));
    const inShape = layer.inboundNodes[0]!.inputTensors[0]!.shape as (number | null)[];
    const conv = this.node(
      'Conv',
      inputs,
      {
        kernel_shape: kernelSize,
        strides,
        dilations,
        pads: this.pads(name, inShape, kernelSize, strides, dilations, config.padding as string),
        group: 1,
      },
      `${name}_conv`,
    );
    return this.activation({ name: conv, rank: 4 }, (config.activation as string) ?? 'linear', name);
  }

  private dense(layer: tf.layers.Layer, x: Value, config: tf.serialization.ConfigDict): Value {
    const name = layer.name;
    if (x.rank !== 2) exportError(`layer ${name} (Dense) on a ${x.rank}-D input is not supported (flatten first)`);
    const [kernel, bias] = layer.getWeights();
    if (kernel?.dtype !== 'float32') exportError(`layer ${name} (Dense): no float32 kernel`);
    const [unitsIn, units] = kernel.shape as [number, number];
    const w = this.constant(`${name}/kernel`, [unitsIn, units], kernel.dataSync() as Float32Array);
    const y =
      config.useBias !== false && bias
        ? this.node('Gemm', [x.name, w, this.constant(`${name}/bias`, [units], bias.dataSync() as Float32Array)], {}, `${name}_gemm`)
        : this.node('MatMul', [x.name, w], {}, `${name}_matmul`);
    return this.activation({ name: y, rank: 2 }, (config.activation as string) ?? 'linear', name);
  }

  private batchNorm(layer: tf.layers.Layer, x: Value, config: tf.serialization.ConfigDict): Value {
    const name = layer.name;
    const axis = config.axis as number;
    if (!(axis === -1 || axis === x.rank - 1))
      exportError(`layer ${name} (BatchNormalization): only the channel axis is supported, got ${axis}`);
    const w = layer.getWeights();
    let k = 0;
    const gamma = config.scale !== false ? w[k++] : undefined;
    const beta = config.center !== false ? w[k++] : undefined;
    const mean = w[k++] ?? exportError(`layer ${name} (BatchNormalization): no moving mean`);
    const variance = w[k++] ?? exportError(`layer ${name} (BatchNormalization): no moving variance`);
    const c = mean.size;
    const ones = new Float32Array(c).fill(1);
    const inputs = [
      x.name,
      this.constant(`${name}/gamma`, [c], gamma ? (gamma.dataSync() as Float32Array) : ones),
      this.constant(`${name}/beta`, [c], beta ? (beta.dataSync() as Float32Array) : new Float32Array(c)),
      this.constant(`${name}/moving_mean`, [c], mean.dataSync() as Float32Array),
      this.constant(`${name}/moving_variance`, [c], variance.dataSync() as Float32Array),
    ];
    return { name: this.node('BatchNormalization', inputs, { epsilon: { float: config.epsilon as number } }, name), rank: x.rank };
  }

  /** A Keras activation after a layer (or as one). */
  private activation(x: Value, activation: string, name: string): Value {
    switch (activation) {
      case 'linear':
        return x;
      case 'relu':
        return { name: this.node('Relu', [x.name], {}, name), rank: x.rank };
      case 'relu6':
        return this.clip(x, 0, 6, name);
      case 'sigmoid':
        return { name: this.node('Sigmoid', [x.name], {}, name), rank: x.rank };
      case 'tanh':
        return { name: this.node('Tanh', [x.name], {}, name), rank: x.rank };
      case 'softmax':
        return this.softmax(x, -1, name);
      default:
        return exportError(`layer ${name}: activation '${activation}' cannot be exported to ONNX`);
    }
  }

  private softmax(x: Value, axis: number, name: string): Value {
    return { name: this.node('Softmax', [x.name], { axis: this.axis(axis, x.rank) }, name), rank: x.rank };
  }

  private clip(x: Value, min: number, max: number, name: string): Value {
    const lo = this.constant(`${name}/min`, [], new Float32Array([min]));
    const hi = this.constant(`${name}/max`, [], new Float32Array([max]));
    return { name: this.node('Clip', [x.name, lo, hi], {}, name), rank: x.rank };
  }

  private pool(opType: 'MaxPool' | 'AveragePool', layer: tf.layers.Layer, x: Value, config: tf.serialization.ConfigDict): Value {
    const name = layer.name;
    this.requireChannelsLast(config, name);
    if (x.rank !== 4) exportError(`layer ${name} (${opType}) expects a 4-D input`);
    const pair = (v: unknown) => (Array.isArray(v) ? (v as number[]) : [v as number, v as number]);
    const kernel = pair(config.poolSize);
    const strides = pair(config.strides ?? config.poolSize);
    const inShape = layer.inboundNodes[0]!.inputTensors[0]!.shape as (number | null)[];
    const attrs: Record<string, AttributeValue> = {
      kernel_shape: kernel,
      strides,
      pads: this.pads(name, inShape, kernel, strides, [1, 1], config.padding as string),
    };
    // TensorFlow's 'same' average pooling divides by the window's in-bounds count
    if (opType === 'AveragePool') attrs.count_include_pad = 0;
    return { name: this.node(opType, [x.name], attrs, name), rank: 4 };
  }

  private merge(className: string, inputs: Value[], name: string): Value {
    if (inputs.length < 2) exportError(`layer ${name} (${className}) needs at least two inputs`);
    if (inputs.some((v) => v.rank !== inputs[0]!.rank)) exportError(`layer ${name} (${className}) joins values of different ranks`);
    const rank = inputs[0]!.rank;
    const op = { Add: 'Sum', Average: 'Sum', Subtract: 'Sub', Multiply: 'Mul', Maximum: 'Max', Minimum: 'Min' }[className]!;
    if (op === 'Sub' && inputs.length !== 2) exportError(`layer ${name} (Subtract) takes exactly two inputs`);
    const joined =
      op === 'Sum' && inputs.length === 2
        ? this.node(
            'Add',
            inputs.map((v) => v.name),
            {},
            className === 'Add' ? name : `${name}_sum`,
          )
        : op === 'Mul' && inputs.length > 2
          ? inputs.slice(1).reduce((acc, v, i) => this.node('Mul', [acc, v.name], {}, `${name}_${i}`), inputs[0]!.name)
          : this.node(
              op,
              inputs.map((v) => v.name),
              {},
              className === 'Average' ? `${name}_sum` : name,
            );
    if (className !== 'Average') return { name: joined, rank };
    const scale = this.constant(`${name}/scale`, [], new Float32Array([1 / inputs.length]));
    return { name: this.node('Mul', [joined, scale], {}, name), rank };
  }
}
