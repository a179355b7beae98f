/** The protocol's stable error codes, with the close code and HTTP status that go with each. A leaf. */

/** Stable error codes, with the WebSocket close code that follows (null: the connection stays open). */
export const ERROR_CODES = {
  ERR_BAD_MESSAGE: { close: null, http: 400, what: 'a text message or request body that is not JSON or does not match its schema' },
  ERR_BAD_PARAMS: { close: 1008, http: 400, what: 'a missing or invalid query parameter (streamId, since, types, …)' },
  ERR_UNKNOWN_FORMAT: { close: 1003, http: 400, what: 'ingest format is not one of s16le, f32le' },
  ERR_UNSUPPORTED_RATE: { close: 1003, http: 400, what: 'ingest sampleRateHz is neither the model rate nor a rate the server resamples' },
  ERR_STREAM_EXISTS: { close: 1008, http: 409, what: 'an ingest stream with this streamId is already open' },
  ERR_EXPECTED_BINARY: { close: 1003, http: null, what: 'text on an ingest connection that is not an end or ping message' },
  ERR_UNEXPECTED_BINARY: { close: 1003, http: null, what: 'binary data on a subscriber connection' },
  ERR_PCM_ALIGNMENT: { close: 1007, http: null, what: 'a binary frame that is not a whole number of samples' },
  ERR_FRAME_TOO_LARGE: { close: 1009, http: null, what: 'a message over the size limit' },
  ERR_RATE_LIMIT: { close: 1008, http: 429, what: 'more messages (or HTTP requests that send data) per second than allowed' },
  ERR_TOO_MANY_STREAMS: { close: 1013, http: null, what: 'the server or this address has as many ingest streams open as allowed' },
  ERR_TOO_MANY_CONNECTIONS: {
    close: 1013,
    http: 503,
    what: 'the server or this address has as many connections (HTTP 503, before any request is read) or subscribers (close 1013) as allowed',
  },
  ERR_SLOW_CONSUMER: {
    close: 1013,
    http: null,
    what: 'the client fell so far behind that its event queue overflowed; reconnect with since',
  },
  ERR_INGEST_DISABLED: { close: 1008, http: null, what: 'this server does not accept audio (it was started without a model)' },
  ERR_INTERNAL: { close: 1011, http: 500, what: 'an unexpected server-side failure (details are logged on the server only)' },
  ERR_SHUTDOWN: { close: 1001, http: 503, what: 'the server is shutting down (a handshake meanwhile gets HTTP 503)' },
  ERR_UNAUTHORIZED: { close: null, http: 401, what: 'missing or wrong token (HTTP and WebSocket handshakes)' },
  ERR_FORBIDDEN_ORIGIN: { close: null, http: 403, what: 'Origin not in the allow-list' },
  ERR_FORBIDDEN_HOST: { close: null, http: 403, what: 'Host header not a loopback name while bound to loopback (DNS rebinding guard)' },
  ERR_NOT_FOUND: { close: null, http: 404, what: 'no such path' },
  ERR_METHOD: { close: null, http: 405, what: 'a method the path does not serve (the Allow header lists those it does)' },
  ERR_TOO_LARGE: { close: null, http: 413, what: 'a request body over its limit' },
  ERR_UNSUPPORTED_MEDIA: { close: null, http: 415, what: 'a request body of another Content-Type than the endpoint takes' },
  ERR_LEARN_DISABLED: {
    close: null,
    http: 403,
    what: 'this server does not learn classes (started with --no-learn, or without a model directory)',
  },
  ERR_LEARN_BUSY: { close: null, http: 409, what: 'another class is being learned or removed; try again when it is done' },
  ERR_LEARN_TOO_FEW: { close: null, http: 400, what: 'fewer example clips than a class needs (3)' },
  ERR_LEARN_TOO_MANY: { close: null, http: 400, what: 'more example or negative clips than the server takes' },
  ERR_LEARN_LABEL: {
    close: null,
    http: 400,
    what: 'a label that is not a usable name, that the model already has, or (to remove) that is not a learned class',
  },
  ERR_LEARN_INPUT: { close: null, http: 400, what: 'a clip that is not a readable WAV file, or is too short or too long' },
  ERR_LEARN_SILENT: { close: null, http: 400, what: 'a clip with no window above the level gate (-60 dBFS)' },
  ERR_LEARN_MODEL: {
    close: null,
    http: 409,
    what: 'the running model cannot learn classes (its network has no final softmax Dense layer, or its bank is damaged)',
  },
  ERR_MODEL_MISMATCH: { close: null, http: 409, what: "a new model whose feature settings differ from the running model's" },
  ERR_UNKNOWN_CLASS: { close: null, http: 404, what: 'the model has no class of that label' },
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

/** Every error code, in the table's order (the error schema's enum). */
export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as ErrorCode[];

/** The close code that follows an error code (null: the connection stays open). */
export const closeCodeOf = (code: ErrorCode): number | null => ERROR_CODES[code].close;
