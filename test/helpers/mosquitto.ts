/**
 * A real MQTT broker for tests: Debian's `mosquitto`, started on a free port with its own config file,
 * persistence database and (optionally) password file in a temporary directory.
 *
 *   const skip = await mosquittoSkipReason();
 *   test('…', { skip }, async () => {
 *     const broker = await startMosquitto({ persistence: true });
 *     try { … broker.url … await broker.stop(); await broker.start(); … } finally { await broker.cleanup(); }
 *   });
 *
 * The broker is a direct child of this process, so it is reaped here; `stop()` and `start()` restart it
 * on the same port (with `persistence`, retained messages and sessions survive, as with a service restart).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as tcpConnect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Set to 1 (CI, where setup.sh installed it) to make a missing mosquitto a failure instead of a skip. */
export const REQUIRE_MOSQUITTO_ENV = 'SOUNDEE_REQUIRE_MOSQUITTO';

export interface MosquittoOptions {
  /** Keep retained messages and persistent sessions across stop()/start() (saved on a clean stop). Default false. */
  persistence?: boolean;
  /** Users and passwords; when given, anonymous clients are refused. */
  users?: Record<string, string>;
  /** Also open a WebSocket listener (`wsUrl`). Default false. */
  websockets?: boolean;
  /** Queued messages per offline persistent client (mosquitto's default is 1000). Default 100 000. */
  maxQueuedMessages?: number;
  /** Also open a TLS listener (`tlsUrl`) with a certificate for 127.0.0.1 signed by a CA of its own (`caFile`); needs openssl. Default false. */
  tls?: boolean;
}

export interface Mosquitto {
  readonly port: number;
  /** mqtt://127.0.0.1:PORT */
  readonly url: string;
  /** ws://127.0.0.1:WSPORT (with `websockets`). */
  readonly wsUrl?: string;
  /** mqtts://127.0.0.1:TLSPORT (with `tls`). */
  readonly tlsUrl?: string;
  /** The CA certificate (PEM file) the TLS listener's certificate is signed with (with `tls`). */
  readonly caFile?: string;
  readonly dir: string;
  readonly running: boolean;
  /** The broker's process id while it runs. */
  readonly pid: number | undefined;
  /** Stops the broker: SIGTERM (a clean stop that saves persistence) or SIGKILL. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts it again on the same port(s). */
  start(): Promise<void>;
  /** The broker's log. */
  log(): Promise<string>;
  /** Stops it and removes its directory. Idempotent. */
  cleanup(): Promise<void>;
}

function which(cmd: string): Promise<boolean> {
  return new Promise((resolve) => execFile('sh', ['-c', `command -v ${cmd}`], (err) => resolve(!err)));
}

/** Why mosquitto (and, with `tls`, openssl) cannot be used here, or false: pass it to node:test's `skip`. */
export async function mosquittoSkipReason(options: { tls?: boolean } = {}): Promise<string | false> {
  if (process.env[REQUIRE_MOSQUITTO_ENV] === '1') return false;
  const missing = [
    ...((await which('mosquitto')) ? [] : ['mosquitto', 'mosquitto-clients']),
    ...(options.tls && !(await which('openssl')) ? ['openssl'] : []),
  ];
  if (missing.length)
    return `not installed: apt-get install -y ${missing.join(' ')} (or bash scripts/setup.sh; set ${REQUIRE_MOSQUITTO_ENV}=1 to fail instead)`;
  return false;
}

function run(cmd: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { cwd }, (err, _o, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(),
    ),
  );
}

/** A CA and a server certificate for 127.0.0.1/localhost signed by it (EC P-256, one day), in `dir`. */
async function makeCertificates(dir: string): Promise<void> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=soundee test CA'], dir);
  await run('openssl', ['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'], dir);
  await writeFile(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await run(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.crt',
      '-days',
      '1',
      '-extfile',
      'ext.cnf',
    ],
    dir,
  );
}

/** A port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = tcpConnect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));

export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  const dir = await mkdtemp(join(tmpdir(), 'soundee-mqtt-'));
  const port = await freePort();
  const wsPort = options.websockets ? await freePort() : undefined;
  const tlsPort = options.tls ? await freePort() : undefined;
  if (tlsPort) await makeCertificates(dir);
  const lines = [
    `listener ${port} 127.0.0.1`,
    ...(wsPort ? [`listener ${wsPort} 127.0.0.1`, 'protocol websockets'] : []),
    ...(tlsPort
      ? [
          `listener ${tlsPort} 127.0.0.1`,
          `cafile ${join(dir, 'ca.crt')}`,
          `certfile ${join(dir, 'server.crt')}`,
          `keyfile ${join(dir, 'server.key')}`,
        ]
      : []),
    `allow_anonymous ${options.users ? 'false' : 'true'}`,
    ...(options.users ? [`password_file ${join(dir, 'passwd')}`] : []),
    `persistence ${options.persistence ? 'true' : 'false'}`,
    `persistence_location ${dir}/`,
    `max_queued_messages ${options.maxQueuedMessages ?? 100_000}`,
    'max_inflight_messages 100',
    `log_dest file ${join(dir, 'mosquitto.log')}`,
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'connection_messages true',
    // as root, mosquitto would switch to the `mosquitto` user, which cannot write this directory
    ...(process.getuid?.() === 0 ? ['user root'] : []),
  ];
  await writeFile(join(dir, 'mosquitto.conf'), `${lines.join('\n')}\n`);
  if (options.users) {
    const pw = join(dir, 'passwd');
    await writeFile(pw, '', { mode: 0o600 });
    for (const [user, password] of Object.entries(options.users))
      await new Promise<void>((resolve, reject) =>
        execFile('mosquitto_passwd', ['-b', pw, user, password], (err, _o, stderr) =>
          err ? reject(new Error(`mosquitto_passwd: ${stderr || err.message}`)) : resolve(),
        ),
      );
  }

  let child: ChildProcess | undefined;
  let stderr = '';
  const killOnExit = () => child?.kill('SIGKILL');
  process.once('exit', killOnExit);

  async function start(): Promise<void> {
    if (child && child.exitCode === null && child.signalCode === null) throw new Error('mosquitto is already running');
    stderr = '';
    const c = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    c.stderr!.setEncoding('utf8');
    c.stderr!.on('data', (s: string) => (stderr += s));
    const deadline = Date.now() + 10_000;
    // the port may still be held for a moment after a stop: mosquitto then exits, and is started again
    while (Date.now() < deadline) {
      if (c.exitCode !== null) {
        if (/Address already in use/.test(stderr + (await readFile(join(dir, 'mosquitto.log'), 'utf8').catch(() => '')))) {
          await new Promise((r) => setTimeout(r, 200));
          return start();
        }
        throw new Error(`mosquitto exited (${c.exitCode}): ${stderr.trim()} ${await broker.log()}`);
      }
      if ((await canConnect(port)) && (!wsPort || (await canConnect(wsPort))) && (!tlsPort || (await canConnect(tlsPort)))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    c.kill('SIGKILL');
    throw new Error(`mosquitto did not listen on ${port} within 10 s: ${stderr.trim()}`);
  }

  let cleaned: Promise<void> | undefined;
  const broker: Mosquitto = {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    ...(wsPort ? { wsUrl: `ws://127.0.0.1:${wsPort}/mqtt` } : {}),
    ...(tlsPort ? { tlsUrl: `mqtts://127.0.0.1:${tlsPort}`, caFile: join(dir, 'ca.crt') } : {}),
    dir,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    get pid() {
      return broker.running ? child!.pid : undefined;
    },
    async stop(signal = 'SIGTERM') {
      if (!child) return;
      const c = child;
      c.kill(signal);
      const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
      await exited(c);
      clearTimeout(timer);
    },
    start,
    log: () => readFile(join(dir, 'mosquitto.log'), 'utf8').catch(() => ''),
    cleanup() {
      cleaned ??= (async () => {
        await broker.stop('SIGKILL');
        process.removeListener('exit', killOnExit);
        await rm(dir, { recursive: true, force: true });
      })();
      return cleaned;
    },
  };
  try {
    await start();
  } catch (e) {
    await broker.cleanup();
    throw e;
  }
  return broker;
}
