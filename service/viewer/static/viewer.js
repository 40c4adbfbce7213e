// ms-nowcast viewer: everything comes from this service (no CDN, no other host).
"use strict";
const $ = (id) => document.getElementById(id);
const state = { job: null, meta: null, index: 0, timer: null, cache: new Map(), point: null };

function setStatus(text) { $("status").textContent = text; }

// An API key, when the service asks for one: entered once, kept for this tab only
// (sessionStorage), sent as a bearer token with every request.
const KEY = "nowcast-api-key";
function auth() {
  const key = sessionStorage.getItem(KEY);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function request(path, options = {}) {
  return fetch(path, { ...options, headers: { ...auth(), ...(options.headers || {}) } });
}

async function api(path, options) {
  const r = await request(path, options);
  const body = r.headers.get("content-type")?.includes("json") ? await r.json() : null;
  if (!r.ok) throw new Error(body?.detail ? `${body.code || r.status}: ${JSON.stringify(body.detail)}` : `HTTP ${r.status}`);
  return body;
}

async function submit(files) {
  if (!files.length) { setStatus("choose radar frames first"); return; }
  const form = new FormData();
  for (const f of files) form.append("frames", f, f.name);
  setStatus(`sending ${files.length} frames...`);
  try {
    const job = await api("/nowcast", { method: "POST", body: form });
    openJob(job.id);
  } catch (e) { setStatus(`refused: ${e.message}`); }
}

async function openJob(id) {
  stop();
  for (const done of state.cache.values()) done.then((src) => src && URL.revokeObjectURL(src));
  state.job = id; state.cache.clear(); state.point = null;
  history.replaceState(null, "", `#${id}`);
  $("job-id").value = id;
  $("viewer").hidden = true;
  $("progress").hidden = false;
  for (;;) {
    let job;
    try { job = await api(`/jobs/${id}`); } catch (e) { setStatus(e.message); return; }
    $("progress").value = job.progress;
    setStatus(`job ${id}: ${job.status} (${Math.round(job.progress * 100)} %)`);
    if (job.status === "failed") { setStatus(`job ${id} failed: ${job.error}`); return; }
    if (job.status === "succeeded") break;
    await new Promise((done) => setTimeout(done, 700));
  }
  $("progress").hidden = true;
  const [meta, borders] = await Promise.all([
    api(`/jobs/${id}/result?format=json`), api(`/jobs/${id}/result?format=borders`)]);
  state.meta = meta;
  showJob(meta, borders);
}

function showJob(meta, borders) {
  const { rows, cols } = meta.grid;
  const svg = $("borders");
  svg.setAttribute("viewBox", `0 0 ${cols} ${rows}`);
  const polyline = (cls) => (l) => `<polyline class="${cls}" points="${l.map((p) => p.join(",")).join(" ")}"/>`;
  // state borders first, so that country borders are drawn over them
  svg.innerHTML = (borders.states || []).map(polyline("state")).join("") + borders.lines.map(polyline("country")).join("");
  $("map").style.aspectRatio = `${cols} / ${rows}`;
  const slider = $("slider");
  slider.min = 0; slider.max = meta.steps.length - 1;
  state.index = Math.max(0, meta.steps.indexOf(0));  // start at the last observation
  $("threshold").innerHTML = meta.thresholds.map((t) => `<option value="${t}">${t} mm/h</option>`).join("");
  $("threshold").value = String(meta.thresholds.includes(1) ? 1 : meta.thresholds[0]);
  $("attribution").textContent = meta.attribution ? `${meta.attribution} · model ${meta.model}` : `model ${meta.model}`;
  $("viewer").hidden = false;
  setStatus(`job ${state.job}: ${meta.observed_times.length} observed + ${meta.times.length} forecast frames, issued ${meta.forecast_reference_time} UTC`);
  legend(); show(state.index); $("point").innerHTML = "";
}

function frameUrl(step) {
  const layer = $("layer").value;
  const extra = layer === "probability" ? `&layer=probability&threshold=${$("threshold").value}` : "";
  return `/jobs/${state.job}/result?format=layer&step=${step}${extra}`;
}

function load(step) {  // one request per frame, only when it is needed; resolves to its object URL
  const url = frameUrl(step);
  if (!state.cache.has(url)) {  // fetched with the key: an <img src> cannot send a header
    state.cache.set(url, request(url).then((r) => (r.ok ? r.blob() : null))
      .then((blob) => (blob ? URL.createObjectURL(blob) : "")).catch(() => ""));
  }
  return state.cache.get(url);
}

async function show(index) {
  const meta = state.meta;
  state.index = index;
  const step = meta.steps[index];
  $("slider").value = index;
  const observed = step <= 0;
  const when = observed ? meta.observed_times[meta.observed_times.length - 1 + step] : meta.times[step - 1];
  const lead = Math.round((Date.parse(when) - Date.parse(meta.forecast_reference_time)) / 60000);
  $("kind").textContent = observed ? "OBSERVED" : "FORECAST";
  $("kind").className = observed ? "observed" : "forecast";
  $("time").textContent = `valid ${when.replace("T", " ").replace("Z", "")} UTC`;
  $("lead").textContent = `lead ${lead >= 0 ? "+" : ""}${lead} min`;
  const src = await load(step);
  if (state.index === index) $("frame").src = src;
  if (index + 1 < meta.steps.length) load(meta.steps[index + 1]);  // the next one, not all
}

function legend() {
  const scale = state.meta.scales[$("layer").value];
  const items = [`<div class="item"><span class="box" style="background:#fff"></span>no rain</div>`,
    `<div class="item"><span class="box" style="background:${scale.no_data}"></span>no data</div>`];
  scale.colours.forEach((c, i) => {
    const label = scale.units === "1" ? `${Math.round(scale.levels[i] * 100)} %` : `${scale.levels[i]}`;
    items.push(`<div class="item"><span class="box" style="background:${c}"></span>${label}</div>`);
  });
  $("legend").innerHTML = items.join("") + `<div class="item">&nbsp;${scale.units === "1" ? "probability" : "mm/h"}</div>`;
}

function play() {
  if (state.timer) { stop(); return; }
  $("play").textContent = "Pause";
  state.timer = setInterval(() => show((state.index + 1) % state.meta.steps.length), 700);
}
function stop() { clearInterval(state.timer); state.timer = null; $("play").textContent = "Play"; }

async function pointAt(event) {
  const box = $("map").getBoundingClientRect();
  const { rows, cols } = state.meta.grid;
  const col = Math.floor((event.clientX - box.left) / box.width * cols);
  const row = Math.floor((event.clientY - box.top) / box.height * rows);
  const marker = $("marker");
  marker.style.left = `${(col + 0.5) / cols * 100}%`; marker.style.top = `${(row + 0.5) / rows * 100}%`;
  marker.hidden = false;
  try {
    const p = await api(`/jobs/${state.job}/result?format=json&pixel=${row},${col}&thresholds=${state.meta.thresholds.join(",")}`);
    chart(p);
  } catch (e) { $("point").textContent = e.message; }
}

function chart(p) {
  const key = Object.keys(p).find((k) => k.startsWith("minutely_") && !k.endsWith("_units"));
  const data = p[key], t = $("threshold").value;
  const probs = data.probability[String(Number(t))] || Object.values(data.probability)[0];
  const n = data.time.length, w = 380, h = 200, pad = 30;
  const top = Math.max(1, ...data.rainfall_rate.filter((v) => v !== null));
  const x = (i) => pad + (i + 0.5) * (w - 2 * pad) / n;
  const bars = data.rainfall_rate.map((v, i) => {
    const bh = (v || 0) / top * (h - 2 * pad);
    return `<rect class="bar" x="${x(i) - 4}" y="${h - pad - bh}" width="8" height="${bh}"><title>${data.time[i]}: ${v} mm/h</title></rect>`;
  }).join("");
  const line = probs.map((v, i) => `${x(i)},${h - pad - (v || 0) * (h - 2 * pad)}`).join(" ");
  const rain = p.rain.start ? `rain >= ${p.rain.threshold} mm/h from ${p.rain.start}${p.rain.end ? ` to ${p.rain.end}` : ""} UTC` : `no rain >= ${p.rain.threshold} mm/h in the nowcast`;
  $("point").innerHTML = `<p><b>${p.latitude.toFixed(3)}° N, ${p.longitude.toFixed(3)}° E</b> · ${rain}</p>
    <svg id="chart" width="${w}" height="${h}">${bars}<polyline class="prob" points="${line}"/>
    <text class="axis" x="2" y="${pad - 8}">${top.toFixed(1)} mm/h</text>
    <text class="axis" x="${w - pad - 70}" y="${pad - 8}" fill="#c0392b">P(>= ${t}) 100 %</text>
    <text class="axis" x="${pad}" y="${h - 8}">${data.time[0].slice(11)}</text>
    <text class="axis" x="${w - pad - 30}" y="${h - 8}">${data.time[n - 1].slice(11)} UTC</text></svg>
    <p>bars: rain rate (mm/h); red line: probability of >= ${t} mm/h</p>`;
}

$("api-key").placeholder = sessionStorage.getItem(KEY) ? "API key kept for this tab" : "API key (nk_...)";
$("key").addEventListener("submit", (e) => {
  e.preventDefault();
  const key = $("api-key").value.trim();
  if (key) sessionStorage.setItem(KEY, key); else sessionStorage.removeItem(KEY);
  $("api-key").value = "";
  $("api-key").placeholder = key ? "API key kept for this tab" : "API key (nk_...)";
  setStatus(key ? "key kept for this tab" : "key forgotten");
  const id = state.job || $("job-id").value.trim();
  if (id) openJob(id);
});
$("submit").addEventListener("submit", (e) => { e.preventDefault(); submit($("files").files); });
$("open").addEventListener("submit", (e) => { e.preventDefault(); if ($("job-id").value.trim()) openJob($("job-id").value.trim()); });
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); submit(e.dataTransfer.files); });
$("files").addEventListener("change", () => { drop.firstChild.textContent = `${$("files").files.length} files chosen `; });
$("play").addEventListener("click", play);
$("slider").addEventListener("input", (e) => { stop(); show(Number(e.target.value)); });
$("layer").addEventListener("change", () => { legend(); show(state.index); });
$("threshold").addEventListener("change", () => { if ($("layer").value === "probability") show(state.index); });
$("map").addEventListener("click", pointAt);
const initial = location.hash.slice(1) || new URLSearchParams(location.search).get("job");
// with the live feed on (NOWCAST_FEED_URL), the viewer opens on the newest nowcast
async function openLatest() {
  const feed = await api("/feed").catch(() => null);
  if (!feed?.enabled || !feed.newest_nowcast_job) return;
  await openJob(feed.newest_nowcast_job);
  const note = feed.stale ? `STALE: ${feed.reason}` : "latest nowcast of the live feed";
  setStatus(`${note}, reference time ${feed.newest_nowcast_time} (UTC)`);
}
if (initial) openJob(initial); else openLatest();
