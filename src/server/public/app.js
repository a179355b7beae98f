// Soundee live dashboard: plain JavaScript, no build step, no third-party code.
// Connects to /v1/stream (protocol v1, see docs/protocol.md), subscribes to predictions, events,
// statuses and spectrogram columns, and reconnects with back-off, resuming events with `since`.
// The spectrogram and model-input pixels arrive already colormapped by the server's feature path,
// so the page shows exactly the colours the model sees.

import { teachOnHello, teachOnStatus, startTeach } from './teach.js';
import { $, decodeRgb, fmtSec } from './util.js';

const TIMELINE_MS = 30_000;
const MAX_EVENTS = 200;

const params = new URLSearchParams(location.search);
const token = params.get('token');
if (token) {
  // the server moved the token into an HttpOnly cookie; keep it out of the address bar and history
  params.delete('token');
  history.replaceState(null, '', location.pathname + (params.size ? `?${params}` : '') + location.hash);
}

const state = {
  hello: null,
  serverId: null,
  lastEventId: 0,
  streams: new Set(),
  selected: null,
  autoSelect: true,
  lastPrediction: new Map(), // streamId -> prediction
  events: [], // newest last
  open: new Map(), // `${streamId}\u0000${label}` -> start event
  counts: { prediction: 0, event: 0, spectrogram: 0, dropped: 0 },
  retryMs: 500,
  ws: null,
  connectedBefore: false,
};

function setConn(text, s) {
  const el = $('conn');
  el.textContent = text;
  el.dataset.state = s;
}

function hueOf(label) {
  let h = 0;
  for (const ch of label) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

// ---------------------------------------------------------------- streams

function addStream(id) {
  if (state.streams.has(id)) return;
  state.streams.add(id);
  const opt = document.createElement('option');
  opt.value = id;
  opt.textContent = id;
  $('stream').append(opt);
  if (state.selected === null) select(id);
}

function select(id) {
  state.selected = id;
  $('stream').value = id;
  const p = state.lastPrediction.get(id);
  if (p) showPrediction(p);
  else showEmpty();
  const ctx = $('spectrogram').getContext('2d');
  ctx.clearRect(0, 0, $('spectrogram').width, $('spectrogram').height);
  renderEvents();
}

$('stream').addEventListener('change', (e) => {
  state.autoSelect = false;
  select(e.target.value);
});

// ---------------------------------------------------------------- the current label and bars

/** Under this held-out recall a class is marked as one not to rely on (src/model/io.ts WEAK_RECALL: the same value). */
const WEAK_RECALL = 0.5;

function buildBars(classes, heldOut) {
  const ol = $('bars');
  ol.replaceChildren();
  const recall = heldOut?.recall ?? {};
  for (const c of classes) {
    const li = document.createElement('li');
    li.dataset.class = c;
    li.innerHTML =
      '<span class="name"></span><span class="track"><span class="fill"></span></span><span class="value">0.00</span><span class="trust"></span>';
    li.querySelector('.name').textContent = c;
    const r = recall[c];
    const trust = li.querySelector('.trust');
    if (typeof r === 'number') {
      trust.textContent = `${Math.round(100 * r)} %`;
      trust.title = `${c}: ${Math.round(100 * r)} % of its sound recognised on recordings it never trained on${r < WEAK_RECALL ? ' — do not rely on it' : ''}`;
      li.classList.toggle('weak', r < WEAK_RECALL);
    }
    ol.append(li);
  }
  $('trust-note').hidden = !Object.keys(recall).length;
}

function showEmpty() {
  $('label').textContent = '—';
  $('label').dataset.label = '';
  $('confidence').textContent = '\u00a0';
  $('window-time').textContent = '\u00a0';
  for (const li of $('bars').children) {
    li.querySelector('.fill').style.width = '0';
    li.querySelector('.value').textContent = '0.00';
    li.classList.remove('top');
  }
}

function showPrediction(p) {
  $('label').textContent = p.label;
  $('label').dataset.label = p.label;
  $('confidence').textContent = `confidence ${p.confidence.toFixed(2)}${p.rmsDb === null ? ' · silence' : ` · ${p.rmsDb.toFixed(1)} dBFS`}`;
  $('window-time').textContent = `window ${p.index} · ${fmtSec(p.startMs)} – ${fmtSec(p.endMs)}`;
  let top = null;
  for (const [c, v] of Object.entries(p.scores)) if (top === null || v > p.scores[top]) top = c;
  for (const li of $('bars').children) {
    const v = p.scores[li.dataset.class] ?? 0;
    li.querySelector('.fill').style.width = `${(100 * v).toFixed(1)}%`;
    li.querySelector('.value').textContent = v.toFixed(2);
    li.classList.toggle('top', li.dataset.class === top);
  }
}

// ---------------------------------------------------------------- spectrogram and model input

function showSpectrogram(m) {
  const canvas = $('spectrogram');
  const cols = decodeRgb(m.columns);
  if (canvas.height !== m.columns.height) {
    canvas.height = m.columns.height;
  }
  const ctx = canvas.getContext('2d');
  const w = m.columns.width;
  // scroll left by the new columns, then draw them at the right edge
  ctx.drawImage(canvas, -w, 0);
  ctx.putImageData(cols, canvas.width - w, 0);
  const input = $('model-input');
  if (input.width !== m.input.width) {
    input.width = m.input.width;
    input.height = m.input.height;
    $('input-size').textContent = `(${m.input.width}×${m.input.height})`;
  }
  input.getContext('2d').putImageData(decodeRgb(m.input), 0, 0);
  $('input-time').textContent = `window ${m.index} · ${fmtSec(m.startMs)} – ${fmtSec(m.endMs)}`;
  const f = state.hello?.features;
  if (f) $('spec-span').textContent = `${((canvas.width * f.stftHopSamples) / f.sampleRateHz).toFixed(1)} s shown`;
}

// ---------------------------------------------------------------- events

function renderEvents() {
  const sid = state.selected;
  const mine = state.events.filter((e) => e.streamId === sid);
  const list = $('event-list');
  list.replaceChildren();
  if (!mine.length) {
    const li = document.createElement('li');
    li.className = 'empty';
    li.textContent = 'no events yet';
    list.append(li);
  }
  for (const e of mine.slice(-50).reverse()) {
    const li = document.createElement('li');
    li.dataset.id = e.id;
    const span = e.phase === 'end' ? `${fmtSec(e.startMs)} → ${fmtSec(e.endMs)}` : `${fmtSec(e.startMs)} →`;
    li.innerHTML = '<span class="phase"></span><span class="lbl"></span><span class="when"></span><span class="conf"></span>';
    li.querySelector('.phase').textContent = e.phase;
    li.querySelector('.lbl').textContent = e.label;
    li.querySelector('.lbl').style.color = `hsl(${hueOf(e.label)} 70% 65%)`;
    li.querySelector('.when').textContent = span;
    li.querySelector('.conf').textContent = `peak ${e.peakConfidence.toFixed(2)} · mean ${e.meanConfidence.toFixed(2)}`;
    list.append(li);
  }
  renderTimeline(mine);
}

function renderTimeline(mine) {
  const tl = $('timeline');
  tl.replaceChildren();
  const now = Math.max(state.lastPrediction.get(state.selected)?.endMs ?? 0, ...mine.map((e) => e.endMs ?? e.startMs));
  const from = Math.max(0, now - TIMELINE_MS);
  const spans = new Map(); // label -> [{startMs, endMs, open}]
  for (const e of mine) {
    const list = spans.get(e.label) ?? [];
    spans.set(e.label, list);
    if (e.phase === 'start') list.push({ startMs: e.startMs, endMs: now, open: true });
    else {
      const openOne = list.find((s) => s.open && s.startMs === e.startMs);
      if (openOne) Object.assign(openOne, { endMs: e.endMs, open: false });
      else list.push({ startMs: e.startMs, endMs: e.endMs, open: false });
    }
  }
  const width = Math.max(1, now - from);
  for (const [label, list] of spans) {
    const row = document.createElement('div');
    row.className = 'row';
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = label;
    row.append(name);
    for (const s of list) {
      if (s.endMs < from) continue;
      const el = document.createElement('div');
      el.className = `span${s.open ? ' open' : ''}`;
      el.style.left = `${(100 * (Math.max(s.startMs, from) - from)) / width}%`;
      el.style.width = `${(100 * (s.endMs - Math.max(s.startMs, from))) / width}%`;
      el.style.background = `hsl(${hueOf(label)} 70% 50%)`;
      el.title = `${label} ${fmtSec(s.startMs)} – ${s.open ? 'now' : fmtSec(s.endMs)}`;
      row.append(el);
    }
    tl.append(row);
  }
}

function onEvent(e) {
  if (e.id <= state.lastEventId && state.events.some((x) => x.id === e.id)) return;
  state.lastEventId = Math.max(state.lastEventId, e.id);
  state.events.push(e);
  state.events.sort((a, b) => a.id - b.id);
  if (state.events.length > MAX_EVENTS) state.events.splice(0, state.events.length - MAX_EVENTS);
  addStream(e.streamId);
  if (e.streamId === state.selected) renderEvents();
}

// ---------------------------------------------------------------- messages

function onMessage(m) {
  switch (m.type) {
    case 'hello': {
      if (state.serverId && state.serverId !== m.serverId) {
        // a new server process: its event ids start again
        state.events = [];
        state.lastEventId = 0;
      }
      state.hello = m;
      state.serverId = m.serverId;
      $('model').textContent = `model ${m.model.name} (${m.model.architecture}) · ${m.classes.length} classes`;
      $('spec-range').textContent = `${m.features.fMinHz} Hz – ${m.features.fMaxHz} Hz (${m.features.frequencyScale})`;
      buildBars(m.classes, m.heldOut);
      for (const s of m.streams) addStream(s);
      const p = state.lastPrediction.get(state.selected);
      if (p) showPrediction(p);
      teachOnHello(m);
      break;
    }
    case 'prediction':
      state.counts.prediction++;
      addStream(m.streamId);
      state.lastPrediction.set(m.streamId, m);
      if (m.streamId === state.selected) {
        showPrediction(m);
        renderTimeline(state.events.filter((e) => e.streamId === state.selected));
      }
      break;
    case 'spectrogram':
      state.counts.spectrogram++;
      addStream(m.streamId);
      if (m.streamId === state.selected) showSpectrogram(m);
      break;
    case 'event':
      state.counts.event++;
      onEvent(m);
      break;
    case 'status':
      if (m.kind === 'drops') state.counts.dropped = m.total;
      if (m.kind === 'learn' || m.kind === 'model') teachOnStatus(m);
      if (m.kind === 'resume' && !m.complete && state.connectedBefore) flash(`some events were missed while disconnected (${m.reason})`);
      if (m.kind === 'stream' && m.streamId) {
        addStream(m.streamId);
        if (m.state === 'started' && state.autoSelect && m.streamId !== state.selected) select(m.streamId);
      }
      break;
    case 'error':
      flash(`${m.code}: ${m.message}`);
      break;
  }
  $('stats').textContent =
    `${state.counts.prediction} predictions · ${state.counts.event} events · ${state.counts.spectrogram} spectrogram updates${state.counts.dropped ? ` · ${state.counts.dropped} dropped (slow connection)` : ''}`;
}

let flashTimer = null;
function flash(text) {
  const el = $('conn');
  el.title = text;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => (el.title = ''), 10_000);
}

// ---------------------------------------------------------------- connection

function connect() {
  // since=0 on the first connection shows the events the server still holds; later, only the missed ones
  const q = new URLSearchParams({ types: 'prediction,event,status,spectrogram', since: String(state.lastEventId) });
  if (state.serverId) q.set('serverId', state.serverId);
  if (token) q.set('token', token);
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/stream?${q}`);
  state.ws = ws;
  setConn('connecting…', 'connecting');
  ws.onopen = () => {
    state.retryMs = 500;
    setConn('connected', 'connected');
  };
  ws.onmessage = (ev) => {
    let m;
    try {
      m = JSON.parse(ev.data);
    } catch {
      return;
    }
    onMessage(m);
  };
  ws.onclose = (ev) => {
    state.ws = null;
    state.connectedBefore = true;
    const wait = state.retryMs;
    state.retryMs = Math.min(10_000, state.retryMs * 2);
    setConn(`disconnected (${ev.code}) · retrying in ${(wait / 1000).toFixed(1)} s`, 'error');
    setTimeout(connect, wait);
  };
}

renderEvents();
connect();
startTeach({ token });
