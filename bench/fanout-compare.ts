/**
 * Fan-out of two servers side by side: this checkout's server child and another checkout's (e.g. the
 * code before a change), each with the same number of subscribers, taking turns level by level and
 * round by round, so that the machine's load hits both alike.
 *
 *   npx tsx bench/fanout-compare.ts --before DIR [--levels 2000,5000,10000] [--events 20] [--rounds 2] [--cpu-prof DIR] [--client raw|ws]
 *
 * DIR is a checkout of Soundee with its node_modules (its bench/server-child.ts is started). With
 * --cpu-prof, both server children write a V8 CPU profile there when they exit.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { quantile, uptime } from './lib.ts';
import {
  type FanoutClients,
  type FanoutLevel,
  type ServerHandle,
  fanoutLine,
  measureFanout,
  startFanoutClients,
  startServerChild,
} from './pipeline.ts';

const { values } = parseArgs({
  options: {
    before: { type: 'string' },
    levels: { type: 'string', default: '2000,5000,10000' },
    events: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '2' },
    'cpu-prof': { type: 'string' },
    client: { type: 'string', default: 'raw' },
  },
});
if (!values.before) throw new Error('--before DIR is required: a checkout whose server to compare with');
const levels = values.levels.split(',').map(Number);
const events = Number(values.events);
const rounds = Number(values.rounds);
const prof = values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', resolve(values['cpu-prof'])] : [];

console.log(`fan-out, before (${values.before}) vs after (this checkout), taking turns; ${events} events at 5/s per measurement`);
console.log(`before: ${uptime()}`);
const sides: { name: string; server: ServerHandle; clients: FanoutClients; open: number; runs: Map<number, FanoutLevel[]> }[] = [];
try {
  for (const [name, file] of [
    ['before', join(resolve(values.before), 'bench/server-child.ts')],
    ['after', undefined],
  ] as const) {
    const server = await startServerChild(1, prof, [], file);
    sides.push({ name, server, clients: await startFanoutClients(values.client as 'raw' | 'ws'), open: 0, runs: new Map() });
  }
  for (const n of levels) {
    for (const s of sides) {
      const r = await s.clients.open(s.server.url, n - s.open);
      s.open += r.opened;
      if (r.failed) console.log(`${s.name}: ${r.failed} subscribers failed to open`);
    }
    for (let round = 0; round < rounds; round++)
      for (const s of round % 2 ? [...sides].reverse() : sides) {
        const level = await measureFanout(s.server, s.clients, n, { events });
        s.runs.set(n, [...(s.runs.get(n) ?? []), level]);
        console.log(`  ${s.name.padEnd(6)} ${fanoutLine(level)}`);
      }
  }
  console.log(`after: ${uptime()}`);
  console.log('\nmedian over rounds: p99 ms | server CPU µs per delivery | client CPU ms per event');
  for (const n of levels) {
    const row = sides.map((s) => {
      const runs = s.runs.get(n) ?? [];
      const med = (f: (l: FanoutLevel) => number) => quantile(runs.map(f), 0.5);
      return `${s.name} ${med((l) => l.latency.p99).toFixed(1)} | ${med((l) => l.serverCpuUsPerDelivery).toFixed(2)} | ${med((l) => l.clientCpuMsPerEvent).toFixed(1)}`;
    });
    console.log(`${String(n).padStart(6)}: ${row.join('   ')}`);
  }
} finally {
  for (const s of sides) {
    await s.clients.close().catch(() => {});
    s.clients.kill();
    await s.server.close();
  }
}
