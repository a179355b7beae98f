// Soundee dashboard: "Teach a sound". Records examples from the browser's microphone (or takes WAV
// files), shows each as the model sees it (POST /v1/clip: the server's feature path renders the
// spectrogram; the page only draws its pixels), lets the user trim or drop them, learns the class
// (POST /v1/learn; progress from the `learn` statuses), lists and removes learned classes, and can
// stream the microphone to the server (/v1/ingest) to see the class recognised live.
// Audio leaves the page at the browser's own sample rate: the server resamples by the model's rule.

import { $, decodeRgb, fmtSec } from './util.js';

const DEFAULT_SECONDS = 3;
const NOT_LEARNING = 'This server does not learn new sounds (it was started with --no-learn).';

const teach = {
  token: null,
  limits: null, // GET /v1/classes .learn, once known
  enabled: null, // null: not known yet
  examples: [], // { id, name, wav: Uint8Array, sampleRateHz, durationMs, startMs, endMs, clip }
  nextId: 1,
  busy: false, // a learn or remove request is out
  recording: false,
  mic: null, // { ctx, stream, node, sinks: Set<(block: Float32Array) => void> }
  ingest: null, // { ws }
  hello: null,
};

// ---------------------------------------------------------------- HTTP

function headers(type) {
  const h = {};
  if (type) h['content-type'] = type;
  if (teach.token) h.authorization = `Bearer ${teach.token}`;
  return h;
}

/**
 * A teaching request; resolves with the JSON body, rejects with the server's error ({code, message}).
 * Requests over the server's per-address rate (many files added at once) wait and are sent again.
 */
async function api(path, { method = 'GET', body, type } = {}) {
  let res;
  for (let attempt = 0; ; attempt++) {
    res = await fetch(path, { method, headers: headers(type), body, credentials: 'same-origin' });
    if (res.status !== 429 || attempt === 4) break;
    await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
  }
  let json = null;
  try {
    json = await res.json();
  } catch {
    // not JSON: reported below with the HTTP status
  }
  if (!res.ok) {
    const e = new Error(json?.message ?? `HTTP ${res.status}`);
    e.code = json?.code ?? `HTTP_${res.status}`;
    throw e;
  }
  return json;
}

function say(text, state = 'info') {
  const el = $('teach-status');
  el.textContent = text;
  el.dataset.state = state;
}

// ---------------------------------------------------------------- WAV (a container only: the samples are the microphone's)

/** Mono float samples as a 16-bit PCM WAV file at `sampleRateHz`. */
function encodeWav(samples, sampleRateHz) {
  const buf = new ArrayBuffer(44 + 2 * samples.length);
  const v = new DataView(buf);
  const ascii = (at, s) => {
    for (let i = 0; i < s.length; i++) v.setUint8(at + i, s.charCodeAt(i));
  };
  ascii(0, 'RIFF');
  v.setUint32(4, 36 + 2 * samples.length, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  v.setUint32(16, 16, true);
  v.setUint16(20, 1, true); // PCM
  v.setUint16(22, 1, true); // mono
  v.setUint32(24, sampleRateHz, true);
  v.setUint32(28, 2 * sampleRateHz, true);
  v.setUint16(32, 2, true);
  v.setUint16(34, 16, true);
  ascii(36, 'data');
  v.setUint32(40, 2 * samples.length, true);
  for (let i = 0; i < samples.length; i++) {
    const x = Math.max(-1, Math.min(1, samples[i]));
    v.setInt16(44 + 2 * i, Math.round(x < 0 ? x * 0x8000 : x * 0x7fff), true);
  }
  return new Uint8Array(buf);
}

function base64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

// ---------------------------------------------------------------- the microphone

/** The microphone, opened once (the browser asks the user the first time): blocks of samples go to each sink. */
async function openMic() {
  if (teach.mic) return teach.mic;
  if (!navigator.mediaDevices?.getUserMedia) throw new Error('this browser gives pages no microphone here (it needs https or localhost)');
  const stream = await navigator.mediaDevices.getUserMedia({
    // the model hears the room as it is: no echo cancelling, noise suppression or gain riding
    audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  const ctx = new AudioContext();
  await ctx.audioWorklet.addModule('capture-worklet.js');
  const node = new AudioWorkletNode(ctx, 'soundee-capture');
  const sinks = new Set();
  node.port.onmessage = (ev) => {
    for (const sink of sinks) sink(ev.data);
  };
  ctx.createMediaStreamSource(stream).connect(node);
  // a silent path to the output keeps the graph running; nothing is heard
  const mute = ctx.createGain();
  mute.gain.value = 0;
  node.connect(mute).connect(ctx.destination);
  await ctx.resume();
  teach.mic = { ctx, stream, node, sinks };
  return teach.mic;
}

/** Records `seconds` of the microphone; resolves with the samples at the microphone's own rate. */
async function record(seconds, onTick) {
  const mic = await openMic();
  const rate = mic.ctx.sampleRate;
  const want = Math.round(seconds * rate);
  const out = new Float32Array(want);
  let have = 0;
  await new Promise((resolve) => {
    const sink = (block) => {
      const n = Math.min(block.length, want - have);
      out.set(block.subarray(0, n), have);
      have += n;
      onTick(have / rate);
      if (have >= want) {
        mic.sinks.delete(sink);
        resolve();
      }
    };
    mic.sinks.add(sink);
  });
  return { samples: out, sampleRateHz: rate };
}

async function onRecord() {
  if (teach.recording) return;
  const seconds = Number($('teach-seconds').value) || DEFAULT_SECONDS;
  teach.recording = true;
  const button = $('teach-record');
  button.disabled = true;
  try {
    say(`recording ${seconds} s… make the sound now`, 'busy');
    let shown = -1;
    const { samples, sampleRateHz } = await record(seconds, (s) => {
      const tenth = Math.floor(s * 10);
      if (tenth === shown) return;
      shown = tenth;
      button.textContent = `Recording… ${s.toFixed(1)} s of ${seconds} s`;
    });
    await addExample(`take ${teach.nextId}`, encodeWav(samples, sampleRateHz));
  } catch (e) {
    say(`could not record: ${e.message}`, 'error');
  } finally {
    teach.recording = false;
    button.disabled = false;
    button.textContent = 'Record an example';
    render();
  }
}

async function onFiles(ev) {
  const files = [...ev.target.files];
  ev.target.value = '';
  for (const f of files) {
    try {
      await addExample(f.name.replace(/\.wav$/i, '').slice(0, 64) || `file ${teach.nextId}`, new Uint8Array(await f.arrayBuffer()));
    } catch (e) {
      say(`${f.name}: ${e.message}`, 'error');
    }
  }
}

// ---------------------------------------------------------------- examples

/** Adds a WAV file as an example: the server previews it (and refuses what it could not learn from). */
async function addExample(name, wav) {
  const clip = await preview(wav, {});
  const ex = {
    id: teach.nextId++,
    name,
    wav,
    durationMs: clip.durationMs,
    startMs: clip.startMs,
    endMs: clip.endMs,
    clip,
    negative: false,
  };
  teach.examples.push(ex);
  render();
  say(`${name} added (${teach.examples.length} take${teach.examples.length === 1 ? '' : 's'})`);
}

function preview(wav, { startMs, endMs }) {
  const q = new URLSearchParams();
  if (startMs !== undefined) q.set('startMs', String(Math.round(startMs)));
  if (endMs !== undefined) q.set('endMs', String(Math.round(endMs)));
  return api(`/v1/clip${q.size ? `?${q}` : ''}`, { method: 'POST', body: wav, type: 'audio/wav' });
}

async function trim(ex, startMs, endMs) {
  try {
    const clip = await preview(ex.wav, { startMs, endMs });
    Object.assign(ex, { clip, startMs: clip.startMs, endMs: clip.endMs });
    say(`${ex.name} trimmed to ${fmtSec(clip.startMs)} – ${fmtSec(clip.endMs)}`);
  } catch (e) {
    say(`${ex.name}: ${e.message}`, 'error');
  }
  render();
}

function drop(ex) {
  const at = teach.examples.indexOf(ex);
  teach.examples = teach.examples.filter((x) => x !== ex);
  say(`${ex.name} dropped (${teach.examples.length} left)`);
  render();
  // focus goes to the take that took its place, else back to recording
  const next = $('teach-examples').children[Math.min(at, teach.examples.length - 1)];
  (next?.querySelector('.ex-drop') ?? $('teach-record')).focus();
}

function exampleItem(ex) {
  const li = document.createElement('li');
  li.dataset.id = String(ex.id);
  const sound = ex.clip.windows.filter((w) => w.sound).length;
  li.innerHTML = `<div class="ex-head"><strong class="ex-name"></strong> <span class="ex-info"></span></div>
    <canvas class="ex-spec" role="img"></canvas>
    <div class="ex-edit">
      <label>start (s) <input class="ex-start" type="number" min="0" step="0.05" /></label>
      <label>end (s) <input class="ex-end" type="number" min="0" step="0.05" /></label>
      <button type="button" class="ex-trim">Trim</button>
      <button type="button" class="ex-drop">Drop</button>
      <label class="ex-neg-label"><input class="ex-neg" type="checkbox" /> not the sound (room, TV)</label>
    </div>`;
  li.querySelector('.ex-name').textContent = ex.name;
  li.querySelector('.ex-info').textContent =
    `${fmtSec(ex.endMs - ex.startMs)} kept of ${fmtSec(ex.durationMs)} · ${ex.clip.sampleRateHz} Hz · ` +
    `${ex.clip.windows.length} window${ex.clip.windows.length === 1 ? '' : 's'}, ${sound} with sound` +
    (sound ? '' : ' — no sound found: record it again or drop it');
  li.classList.toggle('silent', sound === 0);
  const canvas = li.querySelector('.ex-spec');
  canvas.width = ex.clip.spectrogram.width;
  canvas.height = ex.clip.spectrogram.height;
  canvas.getContext('2d').putImageData(decodeRgb(ex.clip.spectrogram), 0, 0);
  canvas.setAttribute('aria-label', `spectrogram of ${ex.name}, as the model sees it`);
  const [start, end] = [li.querySelector('.ex-start'), li.querySelector('.ex-end')];
  for (const input of [start, end]) {
    input.max = (ex.durationMs / 1000).toFixed(2);
    input.setAttribute('aria-label', `${input === start ? 'start' : 'end'} of ${ex.name} in seconds`);
  }
  start.value = (ex.startMs / 1000).toFixed(2);
  end.value = (ex.endMs / 1000).toFixed(2);
  const apply = () => trim(ex, 1000 * Number(start.value), 1000 * Number(end.value));
  li.querySelector('.ex-trim').addEventListener('click', apply);
  for (const input of [start, end]) input.addEventListener('keydown', (e) => e.key === 'Enter' && apply());
  const negative = li.querySelector('.ex-neg');
  negative.checked = ex.negative;
  negative.setAttribute('aria-label', `${ex.name} is not the sound: learn that it must not trigger it`);
  negative.addEventListener('change', () => {
    ex.negative = negative.checked;
    render();
  });
  li.classList.toggle('negative', ex.negative);
  const dropButton = li.querySelector('.ex-drop');
  dropButton.setAttribute('aria-label', `drop ${ex.name}`);
  dropButton.addEventListener('click', () => drop(ex));
  return li;
}

function render() {
  const list = $('teach-examples');
  // the list is rebuilt: a keyboard user keeps their place (the same control of the same take)
  const focused = list.contains(document.activeElement) ? document.activeElement : null;
  const place = focused && { id: focused.closest('li')?.dataset.id, cls: focused.className };
  list.replaceChildren(...teach.examples.map(exampleItem));
  if (place) list.querySelector(`li[data-id="${place.id}"] .${place.cls}`)?.focus();
  const min = teach.limits?.minExamples ?? 3;
  const n = teach.examples.filter((ex) => !ex.negative).length;
  const negatives = teach.examples.length - n;
  $('teach-count').textContent =
    `${n} example${n === 1 ? '' : 's'}${n < min ? ` (${min} or more needed)` : ''}` +
    (negatives ? ` · ${negatives} of what must not trigger it` : '');
  $('teach-count').dataset.count = String(n);
  $('teach-count').dataset.negatives = String(negatives);
  const label = $('teach-label').value.trim();
  $('teach-learn').disabled = !teach.enabled || teach.busy || teach.recording || n < min || !label;
  $('teach-learn').textContent = label ? `Learn “${label}”` : 'Learn';
  $('teach-record').disabled = !teach.enabled || teach.recording;
}

// ---------------------------------------------------------------- learning and learned classes

async function onLearn(ev) {
  ev.preventDefault();
  const label = $('teach-label').value.trim();
  if (teach.busy || !label) return;
  teach.busy = true;
  render();
  $('teach-progress').value = 0;
  $('teach-progress').hidden = false;
  say(`learning “${label}”…`, 'busy');
  try {
    const upload = (ex) => ({ name: ex.name.slice(0, 64), wav: base64(ex.wav), startMs: ex.startMs, endMs: ex.endMs });
    const examples = teach.examples.filter((ex) => !ex.negative).map(upload);
    const negatives = teach.examples.filter((ex) => ex.negative).map(upload);
    const body = JSON.stringify({ label, examples, ...(negatives.length ? { negatives } : {}) });
    const r = await api('/v1/learn', { method: 'POST', body, type: 'application/json' });
    $('teach-progress').value = 1;
    say(
      `learned “${r.label}” in ${r.seconds.toFixed(1)} s: on top for ${Math.round(100 * r.check.examplesOnTop)} % of its examples' sound windows` +
        (r.check.heldOutTakes?.of
          ? `; on takes it did not learn from (each left out in turn) it recognised ${r.check.heldOutTakes.recognised} of ${r.check.heldOutTakes.of}${r.check.heldOutTakes.recognised < r.check.heldOutTakes.of ? ' — record more takes to make it surer' : ''}. `
          : '. ') +
        `The server runs the new model now${teach.ingest ? '' : ' — listen with the microphone to try it'}.`,
      'done',
    );
    teach.examples = [];
    $('teach-label').value = '';
  } catch (e) {
    say(`could not learn “${label}”: ${e.message} (${e.code})`, 'error');
  } finally {
    teach.busy = false;
    $('teach-progress').hidden = true;
    render();
    await listClasses();
  }
}

async function remove(label) {
  if (teach.busy) return;
  teach.busy = true;
  render();
  say(`removing “${label}”…`, 'busy');
  try {
    await api(`/v1/classes/${encodeURIComponent(label)}`, { method: 'DELETE' });
    say(`removed “${label}”`, 'done');
  } catch (e) {
    say(`could not remove “${label}”: ${e.message} (${e.code})`, 'error');
  } finally {
    teach.busy = false;
    render();
    await listClasses();
  }
}

function disable(text) {
  teach.enabled = false;
  $('teach').dataset.enabled = 'false';
  $('teach-disabled').hidden = false;
  $('teach-disabled').textContent = text;
  render();
}

async function listClasses() {
  let body;
  try {
    body = await api('/v1/classes');
  } catch (e) {
    return disable(e.code === 'ERR_LEARN_DISABLED' ? NOT_LEARNING : `Teaching is unavailable: ${e.message}`);
  }
  teach.enabled = true;
  teach.limits = body.learn;
  $('teach').dataset.enabled = 'true';
  $('teach-disabled').hidden = true;
  const learned = body.classes.filter((c) => c.learned);
  const ul = $('teach-classes');
  ul.replaceChildren();
  if (!learned.length) {
    const li = document.createElement('li');
    li.className = 'empty';
    li.textContent = 'none yet';
    ul.append(li);
  }
  for (const c of learned) {
    const li = document.createElement('li');
    li.dataset.label = c.label;
    li.innerHTML = '<span class="lbl"></span> <span class="meta"></span> <button type="button">Remove</button>';
    li.querySelector('.lbl').textContent = c.label;
    li.querySelector('.meta').textContent =
      `${c.examples?.files.length ?? '?'} examples${c.negatives?.files.length ? `, ${c.negatives.files.length} not it` : ''} · ` +
      (c.check?.heldOutTakes?.of
        ? `${c.check.heldOutTakes.recognised} of ${c.check.heldOutTakes.of} takes recognised when left out · `
        : '') +
      `events above ${c.events?.threshold ?? '?'} for ${fmtSec(c.events?.minDurationMs ?? 0)}`;
    const b = li.querySelector('button');
    b.setAttribute('aria-label', `remove ${c.label}`);
    b.addEventListener('click', () => remove(c.label));
    ul.append(li);
  }
  render();
}

// ---------------------------------------------------------------- listening live with the microphone

async function onListen() {
  if (teach.ingest) return stopListening();
  const button = $('teach-listen');
  try {
    const mic = await openMic();
    const rate = mic.ctx.sampleRate;
    const ingest = teach.hello?.ingest;
    if (!ingest?.enabled) throw new Error('this server takes no audio in (soundee serve does)');
    if (!ingest.sampleRatesHz.includes(rate)) throw new Error(`the microphone runs at ${rate} Hz, which the server does not take`);
    const q = new URLSearchParams({ streamId: 'browser microphone', sampleRateHz: String(rate), format: 'f32le' });
    if (teach.token) q.set('token', teach.token);
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ingest?${q}`);
    ws.binaryType = 'arraybuffer';
    const sink = (block) => ws.readyState === WebSocket.OPEN && ws.send(block.buffer.slice(0));
    teach.ingest = { ws, sink };
    ws.onopen = () => {
      mic.sinks.add(sink);
      say('listening: the microphone streams to the server as “browser microphone”', 'done');
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      try {
        const m = JSON.parse(ev.data);
        if (m.type === 'error') say(`listening: ${m.code}: ${m.message}`, 'error');
      } catch {
        // predictions come to the dashboard through /v1/stream as well; nothing to do here
      }
    };
    ws.onclose = () => {
      mic.sinks.delete(sink);
      if (teach.ingest?.ws === ws) teach.ingest = null;
      button.textContent = 'Listen with this microphone';
      button.setAttribute('aria-pressed', 'false');
    };
    button.textContent = 'Stop listening';
    button.setAttribute('aria-pressed', 'true');
  } catch (e) {
    say(`could not listen: ${e.message}`, 'error');
  }
}

function stopListening() {
  const { ws } = teach.ingest;
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'end' }));
  else ws.close();
  say('stopped listening');
}

// ---------------------------------------------------------------- from the live connection

/** A hello (also after every model change): the classes and what ingest takes. */
export function teachOnHello(m) {
  const changed = teach.hello && teach.hello.classes.join('\u0000') !== m.classes.join('\u0000');
  teach.hello = m;
  // the hello says whether the server learns (servers before teaching do not say: ask)
  if (m.learn?.enabled === false) disable(NOT_LEARNING);
  else if (changed || !teach.enabled) void listClasses();
}

/** A `learn` status (progress of a learn or remove) or a `model` status (the model changed). */
export function teachOnStatus(m) {
  if (m.kind === 'model') {
    const what = [...m.added.map((c) => `+${c}`), ...m.removed.map((c) => `−${c}`)].join(' ');
    $('teach-model').textContent = `model changed (${what}): ${m.classes.length} classes`;
    void listClasses();
    return;
  }
  if (m.state === 'progress' && typeof m.progress === 'number') $('teach-progress').value = m.progress;
  if (teach.busy && (m.state === 'progress' || m.state === 'started'))
    say(`${m.action === 'learn' ? 'learning' : 'removing'} “${m.label}”: ${m.stage ?? m.state}…`, 'busy');
}

/** Wires the panel up (the page's token, when it was opened with one). */
export function startTeach({ token }) {
  teach.token = token;
  $('teach-seconds').value = String(DEFAULT_SECONDS);
  $('teach-record').addEventListener('click', onRecord);
  $('teach-files').addEventListener('change', onFiles);
  $('teach-label').addEventListener('input', render);
  $('teach-form').addEventListener('submit', onLearn);
  $('teach-listen').addEventListener('click', onListen);
  render();
}
