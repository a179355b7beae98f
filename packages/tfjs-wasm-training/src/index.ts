/**
 * Training on TensorFlow.js's WebAssembly backend: the backward kernels tfjs-backend-wasm 4.22 lacks
 * or runs slowly (./kernels.ts), and data-parallel training over worker threads (./data-parallel.ts).
 */
export { registerWasmTrainingKernels, unregisterWasmTrainingKernels, type WasmTrainingKernelOptions } from './kernels.ts';
export { DataParallelTrainer, shardBounds, type DataParallelOptions, type StepTimings } from './data-parallel.ts';
