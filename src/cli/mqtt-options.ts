/**
 * The MQTT command-line options, in one place for every command that can publish to a broker
 * (`listen`, `replay`, `serve`): --mqtt, --mqtt-prefix, --device-id, --no-discovery, --mqtt-ca,
 * --mqtt-queue, --mqtt-level-interval; and `openMqtt`, which opens the bridge they describe (docs/mqtt.md).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { SoundeeError } from '../config.ts';
import { EventControl } from '../events/control.ts';
import { resolveEventOptions } from '../events/tracker.ts';
import { DEFAULT_MQTT_OPTIONS, MqttBridge } from '../mqtt/bridge.ts';
import { defaultDeviceId } from '../mqtt/topics.ts';
import { PACKAGE_ROOT } from '../paths.ts';
import { fail, info, parseNumber } from './common.ts';
import type { EventSettings } from './event-options.ts';

/** The parsed MQTT options (commander's names for them). */
export interface MqttCliOptions {
  mqtt?: string;
  mqttPrefix?: string;
  deviceId?: string;
  /** false with --no-discovery. */
  discovery?: boolean;
  mqttCa?: string;
  mqttQueue?: number;
  mqttLevelInterval?: number;
}

/** Environment variables for the broker's user name and password (when the URL has none). */
export const MQTT_ENV = { username: 'SOUNDEE_MQTT_USERNAME', password: 'SOUNDEE_MQTT_PASSWORD' } as const;

/** Adds --mqtt, --mqtt-prefix, --device-id, --no-discovery, --mqtt-ca, --mqtt-queue and --mqtt-level-interval. */
export function mqttOptions(cmd: Command): Command {
  const d = DEFAULT_MQTT_OPTIONS;
  return cmd
    .option(
      '--mqtt <url>',
      `also publish events, class states and the level to this MQTT broker: mqtt://, mqtts://, ws:// or wss://host[:port] (user:password@ in the URL, or env ${MQTT_ENV.username}/${MQTT_ENV.password}); see docs/mqtt.md`,
    )
    .option('--mqtt-prefix <prefix>', `MQTT topic prefix (topics are <prefix>/<device>/…) (default "${d.prefix}")`)
    .option(
      '--device-id <id>',
      `MQTT: this device's name in topics and Home Assistant (a-z, 0-9, _, -) (default: the host name, sanitised: "${defaultDeviceId()}")`,
    )
    .option('--no-discovery', 'MQTT: do not publish Home Assistant discovery (homeassistant/…/config)')
    .option('--mqtt-ca <file>', 'MQTT: CA certificate (PEM) to trust for mqtts:// and wss:// (a private CA)')
    .option(
      '--mqtt-queue <n>',
      `MQTT: events kept while the broker is away; beyond, the oldest are dropped (counted) (default ${d.queueLimit})`,
      parseNumber('--mqtt-queue', { min: 1, max: 10_000_000, integer: true }),
    )
    .option(
      '--mqtt-level-interval <s>',
      `MQTT: seconds between level messages; 0 sends none (many devices: the level is most of the traffic) (default ${d.levelIntervalMs / 1000})`,
      parseNumber('--mqtt-level-interval', { min: 0, max: 86_400 }),
    );
}

let version: string | undefined;
/** Soundee's version, from package.json. */
function softwareVersion(): string {
  version ??= (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}

/**
 * Opens the MQTT bridge the options ask for (none without --mqtt): it connects in the background, so
 * this returns at once even when the broker is down. Its `EventControl` is set on `events.options`, so
 * that the event layer of every stream follows the `set` commands.
 * @param model the model's classes, background classes, name and architecture (a `Classifier` fits).
 * @throws CliError (exit 2) for a bad URL, prefix, device id or CA file.
 */
export function openMqtt(
  o: MqttCliOptions,
  model: { classes: readonly string[]; backgroundClasses: readonly string[]; name: string; architecture: string },
  events: EventSettings,
): MqttBridge | undefined {
  if (o.mqtt === undefined) return undefined;
  let ca: Buffer | undefined;
  if (o.mqttCa !== undefined)
    try {
      ca = readFileSync(o.mqttCa);
    } catch (e) {
      fail(`--mqtt-ca ${o.mqttCa}: ${(e as Error).message}`, 2);
    }
  // credentials in the URL win over the environment
  let inUrl = { username: false, password: false };
  try {
    const u = new URL(o.mqtt);
    inUrl = { username: u.username !== '', password: u.password !== '' };
  } catch {
    // the bridge says what is wrong with the URL
  }
  const username = inUrl.username ? undefined : process.env[MQTT_ENV.username] || undefined;
  const password = inUrl.password ? undefined : process.env[MQTT_ENV.password] || undefined;
  try {
    const control = new EventControl(resolveEventOptions(model.classes, events.options));
    const bridge = new MqttBridge({
      url: o.mqtt,
      deviceId: o.deviceId ?? defaultDeviceId(),
      classes: control.tracked,
      control,
      model: { name: model.name, architecture: model.architecture },
      softwareVersion: softwareVersion(),
      discovery: o.discovery !== false,
      ...(o.mqttPrefix === undefined ? {} : { prefix: o.mqttPrefix }),
      ...(o.mqttQueue === undefined ? {} : { queueLimit: o.mqttQueue }),
      ...(o.mqttLevelInterval === undefined ? {} : { levelIntervalMs: o.mqttLevelInterval * 1000 }),
      ...(ca ? { ca } : {}),
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
      log: (line) => info(`soundee: mqtt: ${line}`),
    });
    events.options.control = control;
    return bridge;
  } catch (e) {
    if (e instanceof SoundeeError && e.code === 'ERR_MQTT_OPTIONS') fail(`--mqtt: ${e.message}`, 2);
    throw e;
  }
}
