/**
 * The serving options every command that can serve shares (serve, and listen/replay with --port):
 * where to listen, who may connect, and the server's limits — defaults and ranges from the server's
 * one defaults object (DEFAULT_SERVER_OPTIONS), so that `--help` shows what the server does.
 */
import type { Command } from 'commander';
import { INGEST_PATH, STREAM_PATH } from '../protocol/index.ts';
import { defaultLearnDir } from '../paths.ts';
import { isLoopbackAddress } from '../server/access.ts';
import { DEFAULT_SERVER_OPTIONS, LIMIT_RANGES, type ServerLimits } from '../server/limits.ts';
import type { ServerOptions, SoundeeServer } from '../server/server.ts';
import { info, parseNumber } from './common.ts';
import { type MqttCliOptions, mqttOptions } from './mqtt-options.ts';

/** The network options every serving command shares (the WebSocket server's, its limits when given, and MQTT's). */
export interface ServerCliOptions extends MqttCliOptions {
  host: string;
  /** false with --no-learn (commander's default: true). */
  learn?: boolean;
  learnDir?: string;
  token?: string;
  origin?: string[];
  history?: number;
  maxConnections?: number;
  maxConnectionsPerAddress?: number;
  maxSubscribers?: number;
  maxSubscribersPerAddress?: number;
  maxStreams?: number;
  maxStreamsPerAddress?: number;
  handshakeTimeout?: number;
}

/** Each limit's flag, the ServerCliOptions key commander gives it, and its help. */
const LIMIT_FLAGS: { limit: keyof ServerLimits; flag: string; key: keyof ServerCliOptions; help: string; ingest?: true }[] = [
  { limit: 'historySize', flag: '--history', key: 'history', help: 'events held for clients that reconnect with since' },
  {
    limit: 'maxConnections',
    flag: '--max-connections',
    key: 'maxConnections',
    help: 'TCP connections in all (WebSockets, page loads, sockets yet to send their request)',
  },
  {
    limit: 'maxConnectionsPerAddress',
    flag: '--max-connections-per-address',
    key: 'maxConnectionsPerAddress',
    help: 'TCP connections per client address, applied before authentication (IPv6: per /64; behind a proxy, raise it)',
  },
  { limit: 'maxSubscribers', flag: '--max-subscribers', key: 'maxSubscribers', help: `${STREAM_PATH} subscribers in all` },
  {
    limit: 'maxSubscribersPerAddress',
    flag: '--max-subscribers-per-address',
    key: 'maxSubscribersPerAddress',
    help: `${STREAM_PATH} subscribers per client address`,
  },
  { limit: 'maxStreams', flag: '--max-streams', key: 'maxStreams', help: `${INGEST_PATH} streams open at once`, ingest: true },
  {
    limit: 'maxStreamsPerAddress',
    flag: '--max-streams-per-address',
    key: 'maxStreamsPerAddress',
    help: `${INGEST_PATH} streams per client address`,
    ingest: true,
  },
  {
    limit: 'handshakeTimeoutMillis',
    flag: '--handshake-timeout',
    key: 'handshakeTimeout',
    help: 'ms a connection has to send its HTTP request or WebSocket handshake before it is closed',
  },
];

/**
 * Adds --host, --token, --origin, the limits (--history, --max-connections, …; the ingest stream
 * limits only with `ingest`, for serve) and the MQTT options (--mqtt…).
 */
export function serverOptions(cmd: Command, { ingest = false } = {}): Command {
  mqttOptions(cmd)
    .option(
      '--host <addr>',
      'interface to listen on; anything but loopback exposes the server to the network (use --token)',
      DEFAULT_SERVER_OPTIONS.host,
    )
    .option('--token <token>', 'require this token on every request (Authorization: Bearer, or ?token= for browsers) (env SOUNDEE_TOKEN)')
    .option('--origin <origins...>', "browser origins allowed besides the server's own (e.g. https://app.example); * allows any")
    .option(
      '--learn-dir <dir>',
      `where models taught from the dashboard (POST /v1/learn) are written, one folder per change (default: ${defaultLearnDir()})`,
    )
    .option('--no-learn', 'do not learn classes at run time: the dashboard cannot teach it sounds (POST /v1/learn is refused)');
  for (const f of LIMIT_FLAGS) {
    if (f.ingest && !ingest) continue;
    const { min, max } = LIMIT_RANGES[f.limit];
    cmd.option(`${f.flag} <n>`, f.help, parseNumber(f.flag, { min, max, integer: true }), DEFAULT_SERVER_OPTIONS[f.limit]);
  }
  return cmd;
}

/**
 * The server settings of the options: address, token (from SOUNDEE_TOKEN when not given), origins and
 * the limits given; warns when the server is exposed without a token.
 */
export function serverSettings(o: ServerCliOptions): Pick<ServerOptions, 'host' | 'token' | 'origins'> & Partial<ServerLimits> {
  const token = o.token ?? (process.env.SOUNDEE_TOKEN || undefined);
  if (!isLoopbackAddress(o.host) && !token)
    info(
      `soundee: warning: listening on ${o.host} without a token: anyone who can reach this port can read what it hears and stream audio in. Set --token or SOUNDEE_TOKEN.`,
    );
  const limits: Partial<ServerLimits> = {};
  for (const f of LIMIT_FLAGS) {
    const v = o[f.key];
    if (typeof v === 'number') limits[f.limit] = v;
  }
  return { host: o.host, ...(token ? { token } : {}), origins: o.origin ?? [], ...limits };
}

/** Prints where the server can be reached (the token is never printed). */
export function announce(server: SoundeeServer, tokenSet: boolean): void {
  const h = server.host.includes(':') ? `[${server.host}]` : server.host;
  const q = tokenSet ? '?token=<token>' : '';
  info(`soundee: serving predictions on ws://${h}:${server.port}/`);
  info(`soundee: dashboard at http://${h}:${server.port}/${q}`);
  info(
    `soundee: subscribe at ws://${h}:${server.port}${STREAM_PATH}, stream audio in at ws://${h}:${server.port}${INGEST_PATH}?streamId=…&sampleRateHz=…&format=s16le|f32le`,
  );
}
