/** The protocol's stable error codes, with the close code and HTTP status that go with each. A leaf. */

/** Stable error codes, with the WebSocket close code that follows (null: the connection stays open). */
export const ERROR_CODES = {
  ERR_BAD_MESSAGE: { close: null, http: 400, what: 'a text message that is not JSON or does not match its schema' },
  ERR_BAD_PARAMS: { close: 1008, http: 400, what: 'a missing or invalid query parameter (streamId, since, types, …)' },
  ERR_UNKNOWN_FORMAT: { close: 1003, http: 400, what: 'ingest format is not one of s16le, f32le' },
  ERR_UNSUPPORTED_RATE: { close: 1003, http: 400, what: 'ingest sampleRateHz is neither the model rate nor a rate the server resamples' },
  ERR_STREAM_EXISTS: { close: 1008, http: 409, what: 'an ingest stream with this streamId is already open' },
  ERR_EXPECTED_BINARY: { close: 1003, http: null, what: 'text on an ingest connection that is not an end or ping message' },
  ERR_UNEXPECTED_BINARY: { close: 1003, http: null, what: 'binary data on a subscriber connection' },
  ERR_PCM_ALIGNMENT: { close: 1007, http: null, what: 'a binary frame that is not a whole number of samples' },
  ERR_FRAME_TOO_LARGE: { close: 1009, http: null, what: 'a message over the size limit' },
  ERR_RATE_LIMIT: { close: 1008, http: null, what: 'more messages per second than allowed' },
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
  ERR_METHOD: { close: null, http: 405, what: 'only GET and HEAD are served' },
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

/** Every error code, in the table's order (the error schema's enum). */
export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as ErrorCode[];

/** The close code that follows an error code (null: the connection stays open). */
export const closeCodeOf = (code: ErrorCode): number | null => ERROR_CODES[code].close;
