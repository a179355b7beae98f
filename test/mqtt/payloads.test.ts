/**
 * The pure parts of the MQTT bridge: topic names and ids, `set` command parsing, `config` answers and
 * Home Assistant discovery payloads (checked against what Home Assistant's MQTT discovery requires).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { EventControl } from '../../src/events/control.ts';
import { resolveEventOptions } from '../../src/events/tracker.ts';
import { describeMqttError, redactUrl } from '../../src/mqtt/bridge.ts';
import { MAX_COMMAND_BYTES, configPayload, parseSetCommand, runSetCommand } from '../../src/mqtt/commands.ts';
import { discoveryMessages, displayName } from '../../src/mqtt/discovery.ts';
import { MqttBridge } from '../../src/mqtt/bridge.ts';
import { MQTT_SCHEMAS, configSchema, levelSchema, mqttPayloadError } from '../../src/mqtt/schemas.ts';
import { checkDeviceId, checkPrefix, deviceTopics, sanitizeId } from '../../src/mqtt/topics.ts';
import { eventSchema } from '../../src/protocol/index.ts';
import { REPO_ROOT } from '../helpers/fixtures.ts';

describe('topics and ids', () => {
  test('host names and labels become [a-z0-9_-] ids; user-given device ids are checked, never silently changed', () => {
    assert.equal(sanitizeId('My-Pi.local'), 'my-pi_local');
    assert.equal(sanitizeId('  Küche / 2 '), 'k_che_2');
    assert.equal(sanitizeId('...'), 'soundee');
    assert.equal(sanitizeId('x'.repeat(100)).length, 64);
    assert.equal(checkDeviceId('kitchen-1'), 'kitchen-1');
    for (const bad of ['', 'Kitchen', 'a/b', 'a+b', 'a#', 'x'.repeat(65), 'ü'])
      assert.throws(() => checkDeviceId(bad), { code: 'ERR_MQTT_OPTIONS' }, bad);
    assert.throws(() => checkDeviceId('Kitchen 1'), /e\.g\. "kitchen_1"/);
  });

  test('a prefix is non-empty levels without wildcards; topics follow the documented layout', () => {
    for (const ok of ['soundee', 'home/soundee']) assert.equal(checkPrefix(ok), ok);
    for (const bad of ['', '/soundee', 'soundee/', 'a//b', 'a/+/b', '#', '$SYS'])
      assert.throws(() => checkPrefix(bad), { code: 'ERR_MQTT_OPTIONS' }, bad);
    const t = deviceTopics('home/soundee', 'kitchen', ['water', 'Dog bark']);
    assert.deepEqual(
      [t.availability, t.events, t.level, t.set, t.config, t.state('water'), t.state('Dog bark')],
      [
        'home/soundee/kitchen/availability',
        'home/soundee/kitchen/events',
        'home/soundee/kitchen/level',
        'home/soundee/kitchen/set',
        'home/soundee/kitchen/config',
        'home/soundee/kitchen/water/state',
        'home/soundee/kitchen/dog_bark/state',
      ],
    );
    assert.throws(() => deviceTopics('soundee', 'k', ['Dog bark', 'dog_bark']), /would share the MQTT topic soundee\/k\/dog_bark\/state/);
  });

  test('credentials never appear in what is logged; connection errors say what to do', () => {
    assert.equal(redactUrl('mqtt://user:secret@broker.lan:1883'), 'mqtt://broker.lan:1883');
    const b = 'mqtt://broker.lan:1883';
    assert.match(
      describeMqttError(Object.assign(new Error('Connection refused: Bad username or password'), { code: 4 }), b),
      /user name or password.*SOUNDEE_MQTT_USERNAME/,
    );
    assert.match(describeMqttError(Object.assign(new Error('Connection refused: Not authorized'), { code: 5 }), b), /not authorized/);
    assert.match(describeMqttError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), b), /is the broker running/);
    assert.match(
      describeMqttError(Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), b),
      /--mqtt-ca/,
    );
  });

  test('a bad URL, scheme, prefix or device id is refused before anything connects', () => {
    const base = { classes: ['water'], model: { name: 'm', architecture: 'a' }, softwareVersion: '0', log: () => {} };
    for (const [opts, re] of [
      [{ url: 'broker.lan', deviceId: 'k' }, /not a URL/],
      [{ url: 'http://broker.lan', deviceId: 'k' }, /unsupported broker URL scheme "http:"/],
      [{ url: 'mqtt://127.0.0.1:1', deviceId: 'K' }, /device id/],
      [{ url: 'mqtt://127.0.0.1:1', deviceId: 'k', prefix: 'a/#' }, /topic prefix/],
    ] as const)
      assert.throws(() => new MqttBridge({ ...base, ...opts }), { code: 'ERR_MQTT_OPTIONS', message: re });
  });
});

describe('set commands and config answers', () => {
  const control = () =>
    new EventControl(resolveEventOptions(['water', 'wind', 'noise'], { backgroundClasses: ['noise'] }), () => 1_000_000);

  test('parses the documented fields; the wire name of snoozeMinutes is snooze', () => {
    assert.deepEqual(
      parseSetCommand('{"id":"a1","enable":["water"],"disable":["wind"],"thresholds":{"water":0.6,"wind":null},"snooze":{"water":30}}'),
      {
        id: 'a1',
        change: { enable: ['water'], disable: ['wind'], thresholds: { water: 0.6, wind: null }, snoozeMinutes: { water: 30 } },
      },
    );
    assert.deepEqual(parseSetCommand(Buffer.from('{}')), { change: {} });
  });

  test('malformed, oversized or ill-typed commands are ERR_MQTT_COMMAND with a reason', () => {
    for (const [payload, re] of [
      ['nope', /not JSON/],
      ['[1]', /JSON object/],
      ['{"disable":"wind"}', /disable must be array/],
      ['{"mute":["wind"]}', /must NOT have additional properties \(mute\)/],
      ['{"thresholds":{"water":1.5}}', /thresholds\.water/],
      ['{"snooze":{"water":-5}}', /snooze\.water/],
      [`{"id":"${'x'.repeat(MAX_COMMAND_BYTES)}"}`, /over the limit/],
    ] as const)
      assert.throws(() => parseSetCommand(payload), { code: 'ERR_MQTT_COMMAND', message: re }, payload.slice(0, 40));
  });

  test('runSetCommand answers every command; a refused one changes nothing and echoes the id', () => {
    const c = control();
    const before = c.state();
    const r1 = runSetCommand(c, '{"id":9,"disable":["rain"]}', 1_000_000);
    assert.deepEqual(r1.error?.code, 'ERR_EVENT_CONTROL');
    assert.equal(r1.id, 9);
    assert.match(r1.error!.message, /"rain" is not one of the classes that raise events \(water, wind\)/);
    const r2 = runSetCommand(c, '{"id":"x","thresholds":{"water":7}}', 1_000_000);
    assert.deepEqual([r2.ok, r2.id, r2.error?.code], [false, 'x', 'ERR_MQTT_COMMAND']);
    assert.deepEqual(c.state(), before);
    const r3 = runSetCommand(c, '{"id":"y","snooze":{"wind":10},"thresholds":{"water":0.5}}', 1_000_000);
    assert.deepEqual(r3, { ok: true, id: 'y', at: new Date(1_000_000).toISOString() });
    const cfg = configPayload('kitchen', c, 1_000_000, r3);
    assert.equal(mqttPayloadError(configSchema, cfg), null);
    assert.deepEqual(cfg.classes, {
      water: { enabled: true, threshold: 0.5, offThreshold: 0.375, snoozedUntil: null },
      wind: { enabled: true, threshold: 0.4, offThreshold: 0.3, snoozedUntil: new Date(1_000_000 + 600_000).toISOString() },
    });
    assert.equal(mqttPayloadError(configSchema, configPayload('kitchen', c, 1, r1)), null, 'a refusal is a valid config payload too');
  });
});

describe('Home Assistant discovery', () => {
  const topics = deviceTopics('soundee', 'kitchen', ['water', 'dog_bark']);
  const msgs = discoveryMessages({
    deviceId: 'kitchen',
    topics,
    classes: ['water', 'dog_bark'],
    model: { name: 'ambient-resnet', architecture: 'resnet' },
    softwareVersion: '0.1.0',
    discoveryPrefix: 'homeassistant',
  });
  const byTopic = new Map(msgs.map((m) => [m.topic, m.payload]));

  test('one retained config per entity at <prefix>/<component>/<device>_<object>/config, object ids [a-zA-Z0-9_-]', () => {
    assert.deepEqual(
      msgs.map((m) => m.topic),
      [
        'homeassistant/binary_sensor/kitchen_water/config',
        'homeassistant/binary_sensor/kitchen_dog_bark/config',
        'homeassistant/sensor/kitchen_level/config',
        'homeassistant/switch/kitchen_water_enabled/config',
        'homeassistant/number/kitchen_water_threshold/config',
        'homeassistant/switch/kitchen_dog_bark_enabled/config',
        'homeassistant/number/kitchen_dog_bark_threshold/config',
      ],
    );
    for (const m of msgs) assert.match(m.topic.split('/')[2]!, /^[a-zA-Z0-9_-]+$/);
  });

  test('a binary_sensor per class: device_class sound, ON/OFF on the state topic, availability, stable unique id, one device', () => {
    const water = byTopic.get('homeassistant/binary_sensor/kitchen_water/config')!;
    assert.deepEqual(water, {
      name: 'Water',
      unique_id: 'soundee_kitchen_water',
      default_entity_id: 'binary_sensor.soundee_kitchen_water',
      device_class: 'sound',
      state_topic: 'soundee/kitchen/water/state',
      payload_on: 'ON',
      payload_off: 'OFF',
      qos: 1,
      availability_topic: 'soundee/kitchen/availability',
      payload_available: 'online',
      payload_not_available: 'offline',
      device: {
        identifiers: ['soundee_kitchen'],
        name: 'Soundee kitchen',
        manufacturer: 'Soundee',
        model: 'ambient-resnet (resnet)',
        sw_version: '0.1.0',
      },
      origin: { name: 'Soundee', sw_version: '0.1.0' },
    });
    assert.equal(byTopic.get('homeassistant/binary_sensor/kitchen_dog_bark/config')!.name, 'Dog bark');
    const uniqueIds = msgs.map((m) => m.payload.unique_id);
    assert.equal(new Set(uniqueIds).size, uniqueIds.length, 'unique ids are unique');
    for (const m of msgs) {
      assert.deepEqual(m.payload.device, water.device, 'every entity belongs to the one device');
      assert.equal(m.payload.availability_topic, topics.availability);
      assert.match(String(m.payload.default_entity_id), /^[a-z_]+\.[a-z0-9]+(?:_[a-z0-9]+)*$/, 'a valid entity id');
      assert.equal(String(m.payload.default_entity_id).split('.')[0], m.topic.split('/')[1], 'in its own domain');
    }
  });

  test('the level sensor reads rmsDb from the level payload in dBFS; switches and numbers send set commands the bridge accepts', () => {
    const level = byTopic.get('homeassistant/sensor/kitchen_level/config')!;
    assert.equal(level.state_topic, 'soundee/kitchen/level');
    assert.equal(level.value_template, '{{ value_json.rmsDb }}');
    assert.equal(level.unit_of_measurement, 'dBFS');
    assert.equal(mqttPayloadError(levelSchema, { streamId: 'mic', rmsDb: -31.5, time: new Date().toISOString() }), null);
    const sw = byTopic.get('homeassistant/switch/kitchen_dog_bark_enabled/config')!;
    assert.equal(sw.command_topic, 'soundee/kitchen/set');
    assert.deepEqual(parseSetCommand(String(sw.payload_on)).change, { enable: ['dog_bark'] });
    assert.deepEqual(parseSetCommand(String(sw.payload_off)).change, { disable: ['dog_bark'] });
    assert.equal(sw.state_topic, 'soundee/kitchen/config');
    assert.equal(sw.value_template, `{{ 'ON' if value_json.classes["dog_bark"].enabled else 'OFF' }}`);
    assert.deepEqual([sw.state_on, sw.state_off], ['ON', 'OFF']);
    const num = byTopic.get('homeassistant/number/kitchen_water_threshold/config')!;
    // what Home Assistant sends for 0.55: the template with {{ value }} replaced
    const sent = String(num.command_template).replace('{{ value }}', '0.55');
    assert.deepEqual(parseSetCommand(sent).change, { thresholds: { water: 0.55 } });
    assert.equal(num.value_template, '{{ value_json.classes["water"].threshold }}');
  });

  test('display names', () => {
    assert.equal(displayName('smoke_alarm'), 'Smoke alarm');
    assert.equal(displayName('rain'), 'Rain');
  });
});

describe('docs/mqtt.md', () => {
  test('shows every MQTT payload schema exactly as the code has it, and the event schema', async () => {
    const doc = await readFile(join(REPO_ROOT, 'docs/mqtt.md'), 'utf8');
    const blocks = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!) as Record<string, unknown>);
    const byId = new Map(blocks.filter((b) => typeof b.$id === 'string').map((b) => [b.$id, b]));
    for (const s of [...MQTT_SCHEMAS, eventSchema])
      assert.deepEqual(byId.get(s.$id), JSON.parse(JSON.stringify(s)), `${s.$id} in docs/mqtt.md`);
    // every example payload in it is valid
    const examples = blocks.filter((b) => !('$schema' in b));
    let checked = 0;
    for (const e of examples) {
      const schema = 'rmsDb' in e ? levelSchema : 'classes' in e && 'deviceId' in e ? configSchema : undefined;
      if (schema) {
        assert.equal(mqttPayloadError(schema, e), null, JSON.stringify(e));
        checked++;
      }
    }
    assert.ok(checked >= 2, `examples checked: ${checked}`);
  });
});
