/**
 * Protocol v1, written once: the JSON Schemas of every message (the source of truth), the TypeScript
 * types derived from them, their validators, the error codes and the constants both ends share.
 * Depends on nothing of the pipeline (only on the feature settings' enums in ../config.ts), so that
 * the client library and any app can import it alone. See docs/protocol.md.
 */
export * from './constants.ts';
export * from './errors.ts';
export * from './filter.ts';
export type * from './messages.ts';
export * from './schemas.ts';
export * from './validate.ts';
