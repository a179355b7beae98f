/**
 * Prints what a Soundee server hears: one line per sound event (and, with --predictions, per window).
 *
 *   npx soundee serve &                                   # or: npx soundee listen --port 8080
 *   npx tsx examples/print-events.ts [ws://127.0.0.1:8080] [--token T] [--predictions] [--history]
 *
 * It prints what happens from the moment it connects (with --history, first the events the server
 * still holds). It reconnects on its own and resumes where it left off, so no event is missed while
 * the connection is down (it says so if the server no longer holds some of them).
 */
import { connect, isStatus } from 'soundee/client';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const url = args.find((a) => /^(ws|wss|http|https):\/\//.test(a)) ?? 'ws://127.0.0.1:8080';
const token = option('--token') ?? process.env.SOUNDEE_TOKEN;
const withPredictions = flag('--predictions');
const withHistory = flag('--history');

const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const time = () => new Date().toLocaleTimeString();

const client = connect({
  url,
  ...(token ? { token } : {}),
  filter: { types: withPredictions ? ['event', 'status', 'prediction'] : ['event', 'status'] },
  // history is asked for explicitly; without it the first connection is live only
  ...(withHistory ? { since: 0 } : {}),
});
let connections = 0;

client.on('open', (hello) => {
  connections++;
  console.log(
    `${time()}  connected to ${url}: model ${hello.model.name}, ${hello.classes.length} classes, streams: ${hello.streams.join(', ') || '(none yet)'}`,
  );
});
client.on('event', (e) => {
  const what =
    e.phase === 'start'
      ? `▶ ${e.label} started at ${sec(e.startMs)}`
      : `■ ${e.label} ended: ${sec(e.startMs)}–${sec(e.endMs ?? e.startMs)}`;
  console.log(`${time()}  [${e.streamId}] #${e.id} ${what} (peak ${e.peakConfidence.toFixed(2)}, mean ${e.meanConfidence.toFixed(2)})`);
});
client.on('prediction', (p) => {
  console.log(`${time()}  [${p.streamId}] ${sec(p.startMs)}  ${p.label.padEnd(12)} ${p.confidence.toFixed(2)}`);
});
client.on('status', (s) => {
  if (isStatus(s, 'resume')) {
    if (connections > 1 && s.complete && s.replayed > 0) console.log(`${time()}  caught up: ${s.replayed} events from while disconnected`);
    else if (s.reason === 'history-expired')
      console.log(
        connections > 1
          ? `${time()}  missed while disconnected: events #${s.lostFromId}–#${s.lostToId} are no longer held by the server`
          : `${time()}  history: events up to #${s.lostToId} are no longer held by the server`,
      );
    else if (s.reason === 'server-restarted' || s.reason === 'unknown-id')
      console.log(`${time()}  the server restarted: events it had before are gone; showing what it holds now`);
  } else if (s.kind === 'stream') console.log(`${time()}  [${s.streamId}] stream ${s.state}`);
  else if (s.kind === 'recorder' && s.level !== 'info') console.log(`${time()}  [${s.streamId}] microphone: ${s.message}`);
  else if (s.kind === 'drops') console.log(`${time()}  this connection was too slow: ${s.total} predictions dropped so far`);
});
client.on('error', (e) => console.error(`${time()}  server: ${e.code}: ${e.message}`));
client.on('reconnecting', ({ delayMs, error }) => {
  console.error(
    `${time()}  no connection to ${url}${error ? ` (${error.message})` : ''}; retrying in ${(delayMs / 1000).toFixed(1)} s. Start a server with: npx soundee serve`,
  );
});
client.ready.catch((e: Error) => {
  console.error(`cannot connect: ${e.message}`);
  process.exitCode = 1;
});

process.on('SIGINT', () => void client.close().then(() => process.exit(0)));
