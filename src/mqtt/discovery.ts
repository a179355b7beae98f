/**
 * Home Assistant MQTT discovery: the retained config messages that make a Soundee device appear in
 * Home Assistant with nothing to configure there but the broker.
 *
 * One config topic per entity (`<discovery prefix>/<component>/<device>_<name>/config`), the form every
 * Home Assistant release understands, all grouped under one device:
 * - a `binary_sensor` per class (`device_class: sound`) on the class's `state` topic;
 * - a `sensor` for the input level (dBFS) on the `level` topic;
 * - per class, a `switch` (events on/off) and a `number` (event threshold) that send `set` commands
 *   and read the retained `config`: the run-time settings from Home Assistant's own UI.
 * Every entity has a `unique_id` built from the device id and the class slug (stable across restarts,
 * so Home Assistant keeps its names, areas and history), and follows the device's availability topic.
 * Entity ids come from the device and entity names (`binary_sensor.soundee_kitchen_water`);
 * `default_entity_id` says the same for releases that read it (2025.10+; older ones ignore it).
 */
import type { DeviceTopics } from './topics.ts';

/** What discovery describes. */
export interface DiscoveryInfo {
  deviceId: string;
  topics: DeviceTopics;
  /** Classes that raise events (one binary_sensor, switch and number each). */
  classes: readonly string[];
  /** The model, shown as the device's model. */
  model: { name: string; architecture: string };
  /** Soundee's version (package.json). */
  softwareVersion: string;
  /** Home Assistant's discovery prefix. Default `homeassistant`. */
  discoveryPrefix: string;
  /** Also announce the switch and number per class (run-time settings). Default true. */
  controls?: boolean;
}

/** One retained discovery message. */
export interface DiscoveryMessage {
  topic: string;
  payload: Record<string, unknown>;
}

/** A class label as an entity name: `water` → `Water`, `dog_bark` → `Dog bark`. */
export function displayName(label: string): string {
  const s = label.replace(/[_-]+/g, ' ').trim();
  return s ? s[0]!.toUpperCase() + s.slice(1) : label;
}

/** An entity id's object part: Home Assistant allows `[a-z0-9_]` without `__` or `_` at either end. */
const entitySlug = (s: string) => s.replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '');

/** A Jinja string literal for a label (JSON strings are valid Jinja strings). */
const jinja = (s: string) => JSON.stringify(s);

/** The discovery messages of a device, in a stable order (binary sensors, level sensor, switches, numbers). */
export function discoveryMessages(info: DiscoveryInfo): DiscoveryMessage[] {
  const { deviceId, topics, discoveryPrefix } = info;
  const idBase = `soundee_${deviceId}`;
  const device = {
    identifiers: [idBase],
    name: `Soundee ${deviceId}`,
    manufacturer: 'Soundee',
    model: `${info.model.name} (${info.model.architecture})`,
    sw_version: info.softwareVersion,
  };
  const common = {
    availability_topic: topics.availability,
    payload_available: 'online',
    payload_not_available: 'offline',
    device,
    origin: { name: 'Soundee', sw_version: info.softwareVersion },
  };
  const entity = (component: string, name: string, objectId: string, payload: Record<string, unknown>): DiscoveryMessage => ({
    topic: `${discoveryPrefix}/${component}/${deviceId}_${objectId}/config`,
    payload: {
      name,
      unique_id: `${idBase}_${objectId}`,
      default_entity_id: `${component}.${entitySlug(`${idBase}_${objectId}`)}`,
      ...payload,
      ...common,
    },
  });

  const out: DiscoveryMessage[] = [];
  for (const label of info.classes) {
    const slug = topics.slug(label);
    out.push(
      entity('binary_sensor', displayName(label), slug, {
        device_class: 'sound',
        state_topic: topics.state(label),
        payload_on: 'ON',
        payload_off: 'OFF',
        qos: 1,
      }),
    );
  }
  out.push(
    entity('sensor', 'Sound level', 'level', {
      state_topic: topics.level,
      value_template: '{{ value_json.rmsDb }}',
      unit_of_measurement: 'dBFS',
      state_class: 'measurement',
      suggested_display_precision: 1,
      icon: 'mdi:waveform',
      entity_category: 'diagnostic',
    }),
  );
  if (info.controls === false) return out;
  for (const label of info.classes) {
    const slug = topics.slug(label);
    const settings = `value_json.classes[${jinja(label)}]`;
    out.push(
      entity('switch', `${displayName(label)} events`, `${slug}_enabled`, {
        command_topic: topics.set,
        payload_on: JSON.stringify({ enable: [label] }),
        payload_off: JSON.stringify({ disable: [label] }),
        state_topic: topics.config,
        value_template: `{{ 'ON' if ${settings}.enabled else 'OFF' }}`,
        state_on: 'ON',
        state_off: 'OFF',
        qos: 1,
        entity_category: 'config',
        icon: 'mdi:bell-ring-outline',
      }),
    );
    out.push(
      entity('number', `${displayName(label)} threshold`, `${slug}_threshold`, {
        command_topic: topics.set,
        command_template: `{"thresholds": {${jinja(label)}: {{ value }}}}`,
        state_topic: topics.config,
        value_template: `{{ ${settings}.threshold }}`,
        min: 0.05,
        max: 1,
        step: 0.05,
        mode: 'slider',
        qos: 1,
        entity_category: 'config',
        icon: 'mdi:tune-vertical',
      }),
    );
  }
  return out;
}
