// `node --import ./test/helpers/hide-onnxruntime.mjs …`: the process cannot resolve onnxruntime-node,
// as on a machine where the optional dependency was not installed (`npm ci --omit=optional`, or its
// install script failed and npm dropped it).
import { register } from 'node:module';

const hook = `
export async function resolve(specifier, context, next) {
  if (specifier === 'onnxruntime-node' || specifier.startsWith('onnxruntime-node/')) {
    const e = new Error("Cannot find package 'onnxruntime-node' imported from " + context.parentURL);
    e.code = 'ERR_MODULE_NOT_FOUND';
    throw e;
  }
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
