/** Validators of protocol v1 messages against their JSON Schemas (ajv), with one-line reasons that name the field. */
import ajvModule, { type ErrorObject, type ValidateFunction } from 'ajv';
import { ALL_SCHEMAS, CLIENT_MESSAGE_SCHEMAS, HTTP_SCHEMAS, SERVER_MESSAGE_SCHEMAS } from './schemas.ts';

// ajv is CommonJS; under NodeNext its class is the default export's `default`.
const Ajv = ajvModule.default;
const ajv = new Ajv({ allErrors: false, strict: true, strictRequired: false, allowUnionTypes: true });
for (const s of ALL_SCHEMAS) ajv.addSchema(s);
const validators = new Map<string, ValidateFunction>();
for (const s of ALL_SCHEMAS) validators.set(s.$id, ajv.getSchema(s.$id)!);

/** A validation verdict: ok, or a one-line reason naming the offending field. */
export type Verdict = { ok: true } | { ok: false; reason: string };

function describe(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (!e) return 'invalid';
  const where = e.instancePath ? e.instancePath.slice(1).replaceAll('/', '.') : 'message';
  const extra =
    e.keyword === 'additionalProperties'
      ? ` (${(e.params as { additionalProperty: string }).additionalProperty})`
      : e.keyword === 'enum'
        ? ` (${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')})`
        : '';
  return `${where} ${e.message ?? 'is invalid'}${extra}`;
}

function validateBy(table: Record<string, { $id: string }>, value: unknown, direction: string): Verdict {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'a message must be a JSON object' };
  const type = (value as { type?: unknown }).type;
  const schema = typeof type === 'string' && Object.hasOwn(table, type) ? table[type] : undefined;
  if (!schema)
    return {
      ok: false,
      reason: `unknown ${direction} message type ${JSON.stringify(type)}; expected one of ${Object.keys(table).join(', ')}`,
    };
  const v = validators.get(schema.$id)!;
  return v(value) ? { ok: true } : { ok: false, reason: `${type}: ${describe(v.errors)}` };
}

/** Checks a message a server sends (hello, prediction, event, status, spectrogram, error, pong). */
export const validateServerMessage = (value: unknown): Verdict => validateBy(SERVER_MESSAGE_SCHEMAS, value, 'server');
/** Checks a message a client sends (subscribe, ping, end). */
export const validateClientMessage = (value: unknown): Verdict => validateBy(CLIENT_MESSAGE_SCHEMAS, value, 'client');

/** Checks an HTTP body of the teaching endpoints against its schema (`learnRequest`, `learnResult`, `classes`, `clip`). */
export function validateHttpBody(kind: keyof typeof HTTP_SCHEMAS, value: unknown): Verdict {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'the body must be a JSON object' };
  const v = validators.get(HTTP_SCHEMAS[kind].$id)!;
  return v(value) ? { ok: true } : { ok: false, reason: describe(v.errors).replace(/^message /, 'body ') };
}
