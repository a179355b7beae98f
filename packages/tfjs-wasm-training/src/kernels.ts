/**
 * Training kernels for the tfjs WASM backend.
 *
 * tfjs-backend-wasm 4.22 has no `Conv2DBackpropFilter` kernel, so `model.fit` cannot train a conv net
 * on it, and several backward kernels it does have are scalar C++ loops (`Conv2DBackpropInput`,
 * `BatchMatMul` with a transposed operand, `MaxPoolGrad`, rank > 4 `Transpose`, `Tile`) running
 * 10–40× slower than the XNNPACK kernels of the forward pass. The kernels here rewrite each backward
 * computation as work that XNNPACK does well — a forward `Conv2D`, or a batch-1 `BatchMatMul`
 * without transposes (XNNPACK fully-connected) — plus memory copies, or as a short JS loop where the
 * work is a single pass over memory (`MaxPoolGrad`, leading-axis `Sum`/`Mean`, whole-tensor `Tile`).
 *
 * Kernels are composed at the `TensorInfo` level by calling the WASM backend's own kernel functions
 * (found with `tf.getKernel`), so the engine sees one kernel per op: `tf.profile` attributes all the
 * time to the op being replaced, and no intermediate tensor reaches the engine's bookkeeping. Data is
 * read and written through `BackendWasm.typedArrayFromHeap` views, which any allocation may
 * invalidate, so views are taken after the allocations they coexist with.
 */
import * as tf from '@tensorflow/tfjs';
import type {
  BatchMatMulAttrs,
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  KernelConfig,
  KernelFunc,
  MaxPoolGradAttrs,
  NamedAttrMap,
  NamedTensorInfoMap,
  SumAttrs,
  TensorInfo,
  TileAttrs,
} from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

const BACKEND = 'wasm';
/** WASM kernels that may be replaced (the originals stay reachable for fallbacks). */
const REPLACED = ['Conv2DBackpropInput', 'BatchMatMul', 'MaxPoolGrad', 'Sum', 'Mean', 'Tile'] as const;

/** Options for {@link registerWasmTrainingKernels}. */
export interface WasmTrainingKernelOptions {
  /**
   * Target size in bytes of one reduction chunk of `dy` in `Conv2DBackpropFilter` (default 512 KiB).
   * Each chunk becomes the packed weight matrix of one XNNPACK GEMM, so it should fit in L2 cache.
   */
  filterGradChunkBytes?: number;
  /** Replace WASM's scalar `Conv2DBackpropInput` with a forward convolution (default true). */
  replaceConv2DBackpropInput?: boolean;
  /** Replace WASM's `BatchMatMul` for batch-1 float32 products (default true). */
  replaceBatchMatMul?: boolean;
  /** Replace WASM's `MaxPoolGrad` (scalar, and wrong for windows of values <= 0) (default true). */
  replaceMaxPoolGrad?: boolean;
  /** Replace WASM's `Sum` and `Mean` over leading axes, e.g. bias and batch-norm gradients (default true). */
  replaceSum?: boolean;
  /** Replace WASM's `Tile` when it repeats a whole tensor, e.g. in batch-norm gradients (default true). */
  replaceTile?: boolean;
}

const DEFAULT_FILTER_GRAD_CHUNK_BYTES = 512 * 1024;

interface Registered {
  /** The kernel configs that were registered for 'wasm' before we replaced them. */
  originals: Map<string, KernelConfig>;
  options: Required<WasmTrainingKernelOptions>;
}

let registered: Registered | null = null;

/** The WASM backend's own kernels that ours delegate to, captured at registration. */
interface BaseOps {
  batchMatMul: KernelFunc;
  conv2DBackpropInput: KernelFunc;
  maxPoolGrad: KernelFunc;
  sum: KernelFunc;
  mean: KernelFunc;
  tile: KernelFunc;
  conv2D: KernelFunc;
  transpose: KernelFunc;
  padV2: KernelFunc;
  slice: KernelFunc;
}
let ops: BaseOps | null = null;

/**
 * Registers the WASM training kernels: a `Conv2DBackpropFilter` kernel (absent from tfjs-backend-wasm)
 * and faster replacements for `Conv2DBackpropInput`, `BatchMatMul`, `MaxPoolGrad`, `Sum`, `Mean` and
 * `Tile` (each can be switched off, see {@link WasmTrainingKernelOptions}). Idempotent: a second call
 * does nothing (its options are ignored; call {@link unregisterWasmTrainingKernels} first to change
 * them).
 *
 * May be called before or after `tf.setBackend('wasm')`. Convolution gradients support NHWC,
 * dilation 1 (tfjs has no gradient for dilated conv2d), any strides and 'same', 'valid' or explicit
 * padding, in float32; other data formats or dtypes make `Conv2DBackpropFilter` throw. The replacements hand the cases they do not cover (batched or
 * non-float32 matmuls, other reductions and tilings, padding wider than the filter) to the original
 * WASM kernels.
 *
 * @param options tuning and per-kernel switches, see {@link WasmTrainingKernelOptions}.
 * @throws Error when the WASM backend's own kernels are not registered (tfjs-backend-wasm missing).
 */
export function registerWasmTrainingKernels(options: WasmTrainingKernelOptions = {}): void {
  if (registered !== null) return;
  const opts: Required<WasmTrainingKernelOptions> = {
    filterGradChunkBytes: options.filterGradChunkBytes ?? DEFAULT_FILTER_GRAD_CHUNK_BYTES,
    replaceConv2DBackpropInput: options.replaceConv2DBackpropInput ?? true,
    replaceBatchMatMul: options.replaceBatchMatMul ?? true,
    replaceMaxPoolGrad: options.replaceMaxPoolGrad ?? true,
    replaceSum: options.replaceSum ?? true,
    replaceTile: options.replaceTile ?? true,
  };
  if (!(opts.filterGradChunkBytes >= 4096)) {
    throw new RangeError(`filterGradChunkBytes must be >= 4096, got ${opts.filterGradChunkBytes}`);
  }
  for (const name of [...REPLACED, 'Conv2D', 'Transpose', 'PadV2', 'Slice']) {
    if (tf.getKernel(name, BACKEND) === undefined) {
      throw new Error(`registerWasmTrainingKernels: WASM kernel ${name} is not registered; import @tensorflow/tfjs-backend-wasm`);
    }
  }
  const originals = new Map<string, KernelConfig>();
  const replace = (config: KernelConfig) => {
    const original = tf.getKernel(config.kernelName, BACKEND);
    if (original !== undefined) {
      originals.set(config.kernelName, original);
      tf.unregisterKernel(config.kernelName, BACKEND);
      // The original's setupFunc binds its C++ entry point; it must still run if the backend is
      // initialised after this call, because our kernels delegate to the original.
      if (original.setupFunc !== undefined) config = { ...config, setupFunc: original.setupFunc };
    }
    tf.registerKernel(config);
  };
  registered = { originals, options: opts };
  ops = {
    batchMatMul: kernelFuncOf('BatchMatMul'),
    conv2DBackpropInput: kernelFuncOf('Conv2DBackpropInput'),
    maxPoolGrad: kernelFuncOf('MaxPoolGrad'),
    sum: kernelFuncOf('Sum'),
    mean: kernelFuncOf('Mean'),
    tile: kernelFuncOf('Tile'),
    conv2D: kernelFuncOf('Conv2D'),
    transpose: kernelFuncOf('Transpose'),
    padV2: kernelFuncOf('PadV2'),
    slice: kernelFuncOf('Slice'),
  };
  replace({ kernelName: 'Conv2DBackpropFilter', backendName: BACKEND, kernelFunc: conv2DBackpropFilter as unknown as KernelFunc });
  if (opts.replaceConv2DBackpropInput) {
    replace({ kernelName: 'Conv2DBackpropInput', backendName: BACKEND, kernelFunc: conv2DBackpropInput as unknown as KernelFunc });
  }
  if (opts.replaceBatchMatMul) {
    replace({ kernelName: 'BatchMatMul', backendName: BACKEND, kernelFunc: batchMatMul as unknown as KernelFunc });
  }
  if (opts.replaceMaxPoolGrad) {
    replace({ kernelName: 'MaxPoolGrad', backendName: BACKEND, kernelFunc: maxPoolGrad as unknown as KernelFunc });
  }
  if (opts.replaceSum) {
    replace({ kernelName: 'Sum', backendName: BACKEND, kernelFunc: sum as unknown as KernelFunc });
    replace({ kernelName: 'Mean', backendName: BACKEND, kernelFunc: mean as unknown as KernelFunc });
  }
  if (opts.replaceTile) {
    replace({ kernelName: 'Tile', backendName: BACKEND, kernelFunc: tile as unknown as KernelFunc });
  }
}

/**
 * Restores the WASM kernels that {@link registerWasmTrainingKernels} replaced and removes the added
 * `Conv2DBackpropFilter`. Meant for benchmarks and tests that compare against the stock kernels.
 */
export function unregisterWasmTrainingKernels(): void {
  if (registered === null) return;
  for (const name of ['Conv2DBackpropFilter', ...REPLACED]) {
    const current = tf.getKernel(name, BACKEND);
    const original = registered.originals.get(name);
    if (current !== undefined && (original === undefined || current.kernelFunc !== original.kernelFunc)) {
      tf.unregisterKernel(name, BACKEND);
      if (original !== undefined) tf.registerKernel(original);
    }
  }
  registered = null;
  ops = null;
}

// ---------------------------------------------------------------------------------------------
// Plumbing: calling the backend's own kernels on TensorInfos.

function kernelFuncOf(name: string): KernelFunc {
  const k = tf.getKernel(name, BACKEND);
  if (k === undefined) throw new Error(`WASM kernel ${name} is not registered`);
  return k.kernelFunc;
}

function baseOps(): BaseOps {
  if (ops === null) throw new Error('WASM training kernels are not registered');
  return ops;
}

function call(f: KernelFunc, backend: BackendWasm, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
  const out = f({ inputs, backend, attrs });
  if (Array.isArray(out)) throw new Error('expected a single output');
  return out;
}

/** A view of a tensor's float32 data on the WASM heap; invalid after the next allocation. */
function heap(backend: BackendWasm, t: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(t) as Float32Array;
}

function dispose(backend: BackendWasm, ...ts: TensorInfo[]): void {
  for (const t of ts) backend.disposeData(t.dataId);
}

function reshapeInfo(backend: BackendWasm, t: TensorInfo, shape: number[]): TensorInfo {
  // Same as the WASM Reshape kernel: share the data, count one more reference.
  backend.incRef(t.dataId);
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

function assertFloat32(kernel: string, ...ts: TensorInfo[]): void {
  for (const t of ts) {
    if (t.dtype !== 'float32') throw new Error(`${kernel} (wasm training kernels): only float32 is supported, got ${t.dtype}`);
  }
}

function convInfoOf(
  kernel: string,
  xShape: number[],
  filterShape: number[],
  attrs: {
    strides: [number, number] | number;
    pad: Conv2DBackpropFilterAttrs['pad'];
    dataFormat: 'NHWC' | 'NCHW';
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  },
) {
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') {
    throw new Error(`${kernel} (wasm training kernels): only dataFormat NHWC is supported, got ${attrs.dataFormat}`);
  }
  if (xShape.length !== 4 || filterShape.length !== 4) {
    throw new Error(`${kernel} (wasm training kernels): expected rank-4 input and filter, got [${xShape}] and [${filterShape}]`);
  }
  // Dilation is always 1: the backprop kernels have no dilation attribute, and tfjs refuses the
  // gradient of a dilated conv2d before reaching them.
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
}

// ---------------------------------------------------------------------------------------------
// Conv2DBackpropFilter

/**
 * dW[kh,kw,ci,co] = Σ_{n,oh,ow} xPad[n, oh·sh+kh, ow·sw+kw, ci] · dy[n,oh,ow,co], computed as GEMMs.
 *
 * The padded input is split into its sh×sw stride phases and transposed channel-major, giving rows
 * XT[ph,pw,ci] over the flattened grid q = (n, i, j) of size N×Hq×Wq. In that grid every filter tap
 * is a constant flat shift: xPad[n, oh·sh+kh, ow·sw+kw] = XT[kh%sh, kw%sw, ci][q + ⌊kh/sh⌋·Wq + ⌊kw/sw⌋]
 * with q = (n, oh, ow). So the transposed im2col matrix — rows (kh,kw,ci), columns q — is made of
 * whole contiguous row segments (one memcpy per row and chunk, not one per pixel), and dy is laid on
 * the same grid with zeros in the columns ow >= Wo. The reduction over q is cut into chunks so that
 * each GEMM's packed weights (the dy chunk, one fully-connected call per chunk) stay in cache;
 * without chunking the 65536-deep reduction of the seed CNN's second layer streams ~20 MB of
 * weights per row tile. The zero columns cost some extra multiply-adds (Wq/Wo: 6% at 32×32 'same',
 * 12% at 16×16) but no copying.
 */
function conv2DBackpropFilter(args: { inputs: NamedTensorInfoMap; backend: BackendWasm; attrs: NamedAttrMap }): TensorInfo {
  const { backend } = args;
  const x = args.inputs['x'];
  const dy = args.inputs['dy'];
  if (x === undefined || dy === undefined) throw new Error('Conv2DBackpropFilter: missing input x or dy');
  const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
  assertFloat32('Conv2DBackpropFilter', x, dy);
  const info = convInfoOf('Conv2DBackpropFilter', x.shape, attrs.filterShape, attrs);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outHeight: ho, outWidth: wo, outChannels: co } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  if (dy.shape[0] !== n || dy.shape[1] !== ho || dy.shape[2] !== wo || dy.shape[3] !== co) {
    throw new Error(`Conv2DBackpropFilter: dy shape [${dy.shape}] does not match the convolution output [${n},${ho},${wo},${co}]`);
  }
  const out = backend.makeOutput([fh, fw, ci, co], 'float32');
  if (n * ho * wo === 0 || ci * co === 0) {
    heap(backend, out).fill(0);
    return out;
  }
  const o = baseOps();

  // Grid of stride phases: Hq×Wq cells per image, each holding sh×sw padded-input pixels.
  const hq = ho - 1 + Math.ceil(fh / sh);
  const wq = wo - 1 + Math.ceil(fw / sw);
  const xt = phaseTransposedPaddedInput(backend, o, x, { n, h, w, ci, pt, pl, hq, wq, sh, sw });

  const k = fh * fw * ci;
  const gridSize = hq * wq;
  const rowStride = n * gridSize; // length of one XT row
  // Flat offset of each tap's XT row start, indexed by (kh*fw + kw)*ci + c.
  const tapRowStart = new Int32Array(k);
  for (let kh = 0; kh < fh; kh++) {
    for (let kw = 0; kw < fw; kw++) {
      const phase = (kh % sh) * sw + (kw % sw);
      const shift = Math.floor(kh / sh) * wq + Math.floor(kw / sw);
      for (let c = 0; c < ci; c++) tapRowStart[(kh * fw + kw) * ci + c] = (phase * ci + c) * rowStride + shift;
    }
  }

  // Grid rows i >= ho hold no dy, so the reduction runs over the n·ho rows that do, in chunks of
  // whole rows. Within one image consecutive rows are contiguous in XT, so a chunk is one run of
  // grid cells per image it touches; a run stops after the last real column of its last row, which
  // also keeps every shifted read inside XT.
  const rowsPerChunk = Math.max(1, Math.floor(registeredOptions().filterGradChunkBytes / (4 * co * wq)));
  const acc = new Float64Array(k * co); // the chunks' partial sums, added in double precision
  let a: TensorInfo | null = null;
  for (let v0 = 0; v0 < n * ho; v0 += rowsPerChunk) {
    const v1 = Math.min(n * ho, v0 + rowsPerChunk);
    const runs: { q: number; len: number; row: number; rows: number }[] = [];
    for (let v = v0; v < v1; ) {
      const img = Math.floor(v / ho);
      const i = v - img * ho;
      const rows = Math.min(v1 - v, ho - i);
      runs.push({ q: img * gridSize + i * wq, len: (rows - 1) * wq + wo, row: v, rows });
      v += rows;
    }
    const len = runs.reduce((t, r) => t + r.len, 0);
    if (a === null || a.shape[2] !== len) {
      if (a !== null) dispose(backend, a);
      a = backend.makeOutput([1, k, len], 'float32');
    }
    // A fresh dy tensor per chunk: the WASM matmul caches its packed XNNPACK weights by tensor id.
    const b = backend.makeOutput([1, len, co], 'float32');
    const aView = heap(backend, a);
    const xtView = heap(backend, xt);
    for (let r = 0; r < k; r++) {
      let dst = r * len;
      for (const run of runs) {
        const src = (tapRowStart[r] as number) + run.q;
        aView.set(xtView.subarray(src, src + run.len), dst);
        dst += run.len;
      }
    }
    const bView = heap(backend, b);
    const dyView = heap(backend, dy);
    bView.fill(0);
    let dst = 0;
    for (const run of runs) {
      for (let j = 0; j < run.rows; j++) {
        const src = (run.row + j) * wo * co;
        bView.set(dyView.subarray(src, src + wo * co), (dst + j * wq) * co);
      }
      dst += run.len;
    }
    const prod = call(o.batchMatMul, backend, { a, b }, { transposeA: false, transposeB: false });
    const p = heap(backend, prod);
    for (let i = 0; i < acc.length; i++) acc[i] = (acc[i] as number) + (p[i] as number);
    dispose(backend, b, prod);
  }
  if (a !== null) dispose(backend, a);
  dispose(backend, xt);
  heap(backend, out).set(acc);
  return out;
}

function registeredOptions(): Required<WasmTrainingKernelOptions> {
  if (registered === null) throw new Error('WASM training kernels are not registered');
  return registered.options;
}

/**
 * Pads x to (hq·sh)×(wq·sw), splits rows and columns into stride phases and moves channels first:
 * returns [sh, sw, ci, n, hq, wq]. C++ kernels only (PadV2, Transpose); a Slice first when the
 * convolution never reads the last rows or columns of x (valid padding with a remainder).
 */
function phaseTransposedPaddedInput(
  backend: BackendWasm,
  o: BaseOps,
  x: TensorInfo,
  g: { n: number; h: number; w: number; ci: number; pt: number; pl: number; hq: number; wq: number; sh: number; sw: number },
): TensorInfo {
  const hp = g.hq * g.sh;
  const wp = g.wq * g.sw;
  const keepH = Math.min(g.h, hp - g.pt);
  const keepW = Math.min(g.w, wp - g.pl);
  if (keepH <= 0 || keepW <= 0) throw new Error('Conv2DBackpropFilter: padding larger than the receptive field is not supported');
  let src = x;
  if (keepH < g.h || keepW < g.w) {
    src = call(o.slice, backend, { x }, { begin: [0, 0, 0, 0], size: [g.n, keepH, keepW, g.ci] });
  }
  const padded = call(
    o.padV2,
    backend,
    { x: src },
    {
      paddings: [
        [0, 0],
        [g.pt, hp - g.pt - keepH],
        [g.pl, wp - g.pl - keepW],
        [0, 0],
      ],
      constantValue: 0,
    },
  );
  if (src !== x) dispose(backend, src);
  // [n·hq, sh, wq, sw·ci] -> [sh, n·hq, wq, sw·ci] -> (as [sh, n·hq·wq, sw, ci]) [sh, sw, ci, n·hq·wq]:
  // two rank-4 transposes, because WASM's Transpose of rank > 4 computes every index through heap
  // vectors (~13× slower here).
  let rows = padded;
  if (g.sh > 1) {
    const v = reshapeInfo(backend, padded, [g.n * g.hq, g.sh, g.wq, g.sw * g.ci]);
    rows = call(o.transpose, backend, { x: v }, { perm: [1, 0, 2, 3] });
    dispose(backend, v, padded);
  }
  const v = reshapeInfo(backend, rows, [g.sh, g.n * g.hq * g.wq, g.sw, g.ci]);
  dispose(backend, rows);
  const xt = call(o.transpose, backend, { x: v }, { perm: [0, 2, 3, 1] });
  dispose(backend, v);
  return xt;
}

// ---------------------------------------------------------------------------------------------
// Conv2DBackpropInput

/**
 * dx = conv2d(dyDilated, W'), stride 1, where W'[kh,kw,co,ci] = W[fh-1-kh, fw-1-kw, ci, co] and dy is
 * zero-dilated by the stride and padded by (f-1-pad) on the top/left. For stride 1 the padding is
 * passed to XNNPACK directly; for larger strides dy is dilated and padded by a JS copy (the zeros
 * cost sh·sw times the multiply-adds, acceptable for the small strided layers of a ResNet).
 * Falls back to the original scalar kernel when the forward padding exceeds the filter size.
 */
function conv2DBackpropInput(args: { inputs: NamedTensorInfoMap; backend: BackendWasm; attrs: NamedAttrMap }): TensorInfo {
  const { backend } = args;
  const dy = args.inputs['dy'];
  const filter = args.inputs['filter'];
  if (dy === undefined || filter === undefined) throw new Error('Conv2DBackpropInput: missing input dy or filter');
  const attrs = args.attrs as unknown as Conv2DBackpropInputAttrs;
  const o = baseOps();
  if (dy.dtype !== 'float32' || filter.dtype !== 'float32') return call(o.conv2DBackpropInput, backend, args.inputs, args.attrs);
  const info = convInfoOf('Conv2DBackpropInput', attrs.inputShape, filter.shape, attrs);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outHeight: ho, outWidth: wo, outChannels: co } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const padTop = fh - 1 - info.padInfo.top;
  const padLeft = fw - 1 - info.padInfo.left;
  const dilH = (ho - 1) * sh + 1;
  const dilW = (wo - 1) * sw + 1;
  const padBottom = h + fh - 1 - dilH - padTop;
  const padRight = w + fw - 1 - dilW - padLeft;
  if (padTop < 0 || padLeft < 0 || padBottom < 0 || padRight < 0 || n * h * w * ci === 0 || ho * wo * co === 0) {
    return call(o.conv2DBackpropInput, backend, args.inputs, args.attrs);
  }

  const flipped = backend.makeOutput([fh, fw, co, ci], 'float32');
  {
    const src = heap(backend, filter);
    const dst = heap(backend, flipped);
    for (let kh = 0; kh < fh; kh++) {
      for (let kw = 0; kw < fw; kw++) {
        const s0 = ((fh - 1 - kh) * fw + (fw - 1 - kw)) * ci * co;
        const d0 = (kh * fw + kw) * co * ci;
        for (let c = 0; c < ci; c++) {
          for (let d = 0; d < co; d++) dst[d0 + d * ci + c] = src[s0 + c * co + d] as number;
        }
      }
    }
  }

  let input = dy;
  let pad: [[number, number], [number, number], [number, number], [number, number]] | 'valid' = [
    [0, 0],
    [padTop, padBottom],
    [padLeft, padRight],
    [0, 0],
  ];
  if (sh !== 1 || sw !== 1) {
    const hd = padTop + dilH + padBottom;
    const wd = padLeft + dilW + padRight;
    input = backend.makeOutput([n, hd, wd, co], 'float32');
    const dst = heap(backend, input);
    const src = heap(backend, dy);
    dst.fill(0);
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < ho; i++) {
        for (let j = 0; j < wo; j++) {
          const s = ((b * ho + i) * wo + j) * co;
          dst.set(src.subarray(s, s + co), ((b * hd + padTop + i * sh) * wd + padLeft + j * sw) * co);
        }
      }
    }
    pad = 'valid';
  }
  const dx = call(o.conv2D, backend, { x: input, filter: flipped }, {
    strides: [1, 1],
    pad,
    dataFormat: 'NHWC',
    dilations: [1, 1],
  } as unknown as NamedAttrMap);
  if (input !== dy) dispose(backend, input);
  dispose(backend, flipped);
  return dx;
}

// ---------------------------------------------------------------------------------------------
// BatchMatMul

/**
 * WASM's BatchMatMul uses XNNPACK only for batch 1 without transposes; with a transposed operand it
 * runs a scalar triple loop (the dense layers' gradients hit that path every step). For batch-1
 * products we materialise transposes with the C++ Transpose kernel and call the XNNPACK path,
 * choosing between C = op(A)·op(B) and Cᵀ = op(B)ᵀ·op(A)ᵀ with {@link matMulCostNs}. That also
 * helps without transposes: the seed CNN's first dense layer, [64×8000]·[8000×500], runs ~1.7×
 * faster as Cᵀ = Wᵀ·xᵀ, because XNNPACK re-packs the right operand on every call and a 64-row
 * left operand amortises that poorly.
 */
function batchMatMul(args: { inputs: NamedTensorInfoMap; backend: BackendWasm; attrs: NamedAttrMap }): TensorInfo {
  const { backend } = args;
  const o = baseOps();
  const a = args.inputs['a'];
  const b = args.inputs['b'];
  const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
  if (
    a === undefined ||
    b === undefined ||
    a.dtype !== 'float32' ||
    b.dtype !== 'float32' ||
    a.shape.length < 2 ||
    b.shape.length < 2 ||
    tf.util.sizeFromShape(a.shape.slice(0, -2)) !== 1 ||
    tf.util.sizeFromShape(b.shape.slice(0, -2)) !== 1
  ) {
    return call(o.batchMatMul, backend, args.inputs, args.attrs);
  }
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const m = transposeA ? ac : ar;
  const kA = transposeA ? ar : ac;
  const kB = transposeB ? bc : br;
  const nn = transposeB ? br : bc;
  if (kA !== kB) return call(o.batchMatMul, backend, args.inputs, args.attrs); // let it report the error
  const k = kA;
  const direct = matMulCostNs(m, k, nn, (transposeA ? m * k : 0) + (transposeB ? k * nn : 0));
  const swapped = matMulCostNs(nn, k, m, (transposeB ? 0 : k * nn) + (transposeA ? 0 : m * k) + m * nn);
  if (!transposeA && !transposeB && direct <= swapped) return call(o.batchMatMul, backend, args.inputs, args.attrs);
  const outShape = [...(a.shape.length >= b.shape.length ? a.shape : b.shape).slice(0, -2), m, nn];

  const as2 = reshapeInfo(backend, a, [ar, ac]);
  const bs2 = reshapeInfo(backend, b, [br, bc]);
  const t = (x: TensorInfo) => call(o.transpose, backend, { x }, { perm: [1, 0] });
  let result: TensorInfo;
  if (direct <= swapped) {
    const left = transposeA ? t(as2) : as2;
    const right = transposeB ? t(bs2) : bs2;
    const l3 = reshapeInfo(backend, left, [1, m, k]);
    const r3 = reshapeInfo(backend, right, [1, k, nn]);
    result = call(o.batchMatMul, backend, { a: l3, b: r3 }, { transposeA: false, transposeB: false });
    dispose(backend, l3, r3);
    if (left !== as2) dispose(backend, left);
    if (right !== bs2) dispose(backend, right);
  } else {
    const left = transposeB ? bs2 : t(bs2); // op(B)ᵀ: [nn, k]
    const right = transposeA ? as2 : t(as2); // op(A)ᵀ: [k, m]
    const l3 = reshapeInfo(backend, left, [1, nn, k]);
    const r3 = reshapeInfo(backend, right, [1, k, m]);
    const ct = call(o.batchMatMul, backend, { a: l3, b: r3 }, { transposeA: false, transposeB: false });
    const ct2 = reshapeInfo(backend, ct, [nn, m]);
    result = t(ct2);
    dispose(backend, l3, r3, ct, ct2);
    if (left !== bs2) dispose(backend, left);
    if (right !== as2) dispose(backend, right);
  }
  dispose(backend, as2, bs2);
  const final = reshapeInfo(backend, result, outShape);
  dispose(backend, result);
  return final;
}

/**
 * Estimated time of an XNNPACK fully-connected product [m×k]·[k×n] plus `transposed` elements of
 * transposes, in ns. Fitted on this 2-core Xeon (single thread): transposes ~3 ns and weight packing
 * ~6 ns per element (XNNPACK packs the k×n right operand on every call), and the GEMM runs at
 * ~22 GFLOP/s with a penalty for few rows, m/(m+48) (12.6 GFLOP/s at m = 64).
 */
function matMulCostNs(m: number, k: number, n: number, transposed: number): number {
  return 3 * transposed + 6 * k * n + (2 * m * k * n) / (22 * (m / (m + 48)));
}

// ---------------------------------------------------------------------------------------------
// MaxPoolGrad

/**
 * Routes each dy value to the first maximum of its window (strictly greater wins, scanning rows then
 * columns), as the cpu backend and TensorFlow do. WASM's own kernel is a scalar loop that starts its
 * running maximum at FLT_MIN with position 0 (so a window of zeros or negatives sends its gradient to
 * element 0 of the whole tensor, or drops it) and lets ties go to the last maximum. Here the channel
 * loop is innermost, so every access is sequential.
 */
function maxPoolGrad(args: { inputs: NamedTensorInfoMap; backend: BackendWasm; attrs: NamedAttrMap }): TensorInfo {
  const { backend } = args;
  const dy = args.inputs['dy'];
  const x = args.inputs['input'];
  if (dy === undefined || x === undefined) throw new Error('MaxPoolGrad: missing input dy or input');
  const o = baseOps();
  if (dy.dtype !== 'float32' || x.dtype !== 'float32' || x.shape.length !== 4) {
    return call(o.maxPoolGrad, backend, args.inputs, args.attrs);
  }
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as MaxPoolGradAttrs;
  const info = tf.backend_util.computePool2DInfo(x.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: ho, outWidth: wo } = info;
  const { effectiveFilterHeight: fh, effectiveFilterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const dx = backend.makeOutput(x.shape, 'float32');
  const dxv = heap(backend, dx);
  const xv = heap(backend, x);
  const dyv = heap(backend, dy);
  dxv.fill(0);
  if (fh === 2 && fw === 2 && sh === 2 && sw === 2 && pt === 0 && pl === 0 && 2 * ho <= h && 2 * wo <= w) {
    maxPool2x2Grad(xv, dyv, dxv, n, h, w, c, ho, wo);
    return dx;
  }
  const best = new Float32Array(c);
  const where = new Int32Array(c);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < ho; i++) {
      const r0 = Math.max(0, i * sh - pt);
      const r1 = Math.min(h, i * sh - pt + fh);
      for (let j = 0; j < wo; j++) {
        const c0 = Math.max(0, j * sw - pl);
        const c1 = Math.min(w, j * sw - pl + fw);
        best.fill(-Infinity);
        where.fill(-1);
        for (let r = r0; r < r1; r++) {
          for (let q = c0; q < c1; q++) {
            const base = ((b * h + r) * w + q) * c;
            for (let d = 0; d < c; d++) {
              const v = xv[base + d] as number;
              if (v > (best[d] as number)) {
                best[d] = v;
                where[d] = base + d;
              }
            }
          }
        }
        const g = ((b * ho + i) * wo + j) * c;
        for (let d = 0; d < c; d++) {
          const at = where[d] as number;
          if (at >= 0) dxv[at] = (dxv[at] as number) + (dyv[g + d] as number);
        }
      }
    }
  }
  return dx;
}

/** The common 2×2, stride 2, unpadded case of {@link maxPoolGrad}: windows do not overlap. */
function maxPool2x2Grad(
  xv: Float32Array,
  dyv: Float32Array,
  dxv: Float32Array,
  n: number,
  h: number,
  w: number,
  c: number,
  ho: number,
  wo: number,
): void {
  const rowStep = w * c;
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < ho; i++) {
      for (let j = 0; j < wo; j++) {
        const p00 = ((b * h + 2 * i) * w + 2 * j) * c;
        const p01 = p00 + c;
        const p10 = p00 + rowStep;
        const p11 = p10 + c;
        const g = ((b * ho + i) * wo + j) * c;
        for (let d = 0; d < c; d++) {
          // First maximum in scan order wins, and only a value above -Infinity (so never NaN), as
          // in the general loop.
          let at = p00 + d;
          let best = xv[at] as number;
          if (!(best > -Infinity)) {
            best = -Infinity;
            at = -1;
          }
          let v = xv[p01 + d] as number;
          if (v > best) {
            best = v;
            at = p01 + d;
          }
          v = xv[p10 + d] as number;
          if (v > best) {
            best = v;
            at = p10 + d;
          }
          v = xv[p11 + d] as number;
          if (v > best) at = p11 + d;
          if (at >= 0) dxv[at] = dyv[g + d] as number;
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Sum, Mean

/**
 * Sum (or mean) over the leading axes — bias gradients, batch-norm statistics and their gradients:
 * dy summed over batch, rows and columns — as one pass of row additions. WASM's kernels first
 * transpose the reduced axes innermost, which for a conv layer's dy costs a full strided copy.
 * Other reductions go to the original kernels.
 */
function leadingReduction(
  kind: 'sum' | 'mean',
  args: { inputs: NamedTensorInfoMap; backend: BackendWasm; attrs: NamedAttrMap },
): TensorInfo {
  const { backend } = args;
  const x = args.inputs['x'];
  if (x === undefined) throw new Error(`${kind}: missing input x`);
  const o = baseOps();
  const { axis, keepDims } = args.attrs as unknown as SumAttrs;
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
  const leading = axes.length > 0 && axes.length < x.shape.length && axes.every((a, i) => a === i);
  if (x.dtype !== 'float32' || !leading) return call(kind === 'sum' ? o.sum : o.mean, backend, args.inputs, args.attrs);
  const rows = tf.util.sizeFromShape(x.shape.slice(0, axes.length));
  const cols = tf.util.sizeFromShape(x.shape.slice(axes.length));
  const outShape = keepDims ? x.shape.map((d, i) => (i < axes.length ? 1 : d)) : x.shape.slice(axes.length);
  const out = backend.makeOutput(outShape, 'float32');
  const xv = heap(backend, x);
  // Float64 accumulators: JS arithmetic is double anyway, and long sums stay accurate. Eight rows
  // per accumulator update halves the time of the plain loop.
  const acc = new Float64Array(cols);
  let r = 0;
  let off = 0;
  for (; r + 8 <= rows; r += 8, off += 8 * cols) {
    for (let d = 0; d < cols; d++) {
      // Unrolled by hand: V8 does not unroll an inner loop here, and that costs ~2×.
      let i = off + d;
      let t = xv[i] as number;
      t += xv[(i += cols)] as number;
      t += xv[(i += cols)] as number;
      t += xv[(i += cols)] as number;
      t += xv[(i += cols)] as number;
      t += xv[(i += cols)] as number;
      t += xv[(i += cols)] as number;
      t += xv[(i += cols)] as number;
      acc[d] = (acc[d] as number) + t;
    }
  }
  for (; r < rows; r++, off += cols) {
    for (let d = 0; d < cols; d++) acc[d] = (acc[d] as number) + (xv[off + d] as number);
  }
  if (kind === 'mean' && rows > 0) for (let d = 0; d < cols; d++) acc[d] = (acc[d] as number) / rows;
  heap(backend, out).set(acc);
  return out;
}

function sum(args: { inputs: NamedTensorInfoMap; backend: BackendWasm; attrs: NamedAttrMap }): TensorInfo {
  return leadingReduction('sum', args);
}

function mean(args: { inputs: NamedTensorInfoMap; backend: BackendWasm; attrs: NamedAttrMap }): TensorInfo {
  return leadingReduction('mean', args);
}

// ---------------------------------------------------------------------------------------------
// Tile

/**
 * Tile that repeats the whole tensor — x has size 1 on every repeated axis before the first axis
 * that is not repeated, as when batch-norm gradients broadcast [1,1,1,C] to [N,H,W,C] — as memcpy
 * doublings of the output. WASM's kernel computes every output index separately (~100 ms for one
 * [64,32,32,16] tile here). Other tilings go to the original kernel.
 */
function tile(args: { inputs: NamedTensorInfoMap; backend: BackendWasm; attrs: NamedAttrMap }): TensorInfo {
  const { backend } = args;
  const x = args.inputs['x'];
  if (x === undefined) throw new Error('Tile: missing input x');
  const o = baseOps();
  const { reps } = args.attrs as unknown as TileAttrs;
  let k = 0;
  while (k < x.shape.length && x.shape[k] === 1) k++;
  const wholeCopies = reps.length === x.shape.length && reps.every((r, i) => i < k || r === 1);
  if (!wholeCopies || x.dtype === 'string' || x.dtype === 'complex64') return call(o.tile, backend, args.inputs, args.attrs);
  const outShape = x.shape.map((d, i) => d * (reps[i] as number));
  const out = backend.makeOutput(outShape, x.dtype);
  const dst = backend.typedArrayFromHeap(out);
  const block = tf.util.sizeFromShape(x.shape);
  if (dst.length > 0) {
    dst.set(backend.typedArrayFromHeap(x));
    for (let filled = block; filled < dst.length; filled *= 2) dst.copyWithin(filled, 0, Math.min(filled, dst.length - filled));
  }
  return out;
}
