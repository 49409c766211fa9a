// edge-detsam2 scoreboard page: a Server-Sent Events client of /api/stream.
// Every value shown comes from the public MQTT topics through the server; payload text is
// only ever set with textContent / setAttribute (never parsed as HTML).
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const KEEP = 500;
const DEFAULT_TABLE = { length_m: 2.54, width_m: 1.27, ball_radius_m: 0.028575, pockets: null };
const COLOURS = {
  1: "#f2c12e", 2: "#1f4fbf", 3: "#d0202a", 4: "#5b2a86", 5: "#f07f13", 6: "#1c7c3c", 7: "#7a1f1f", 8: "#111111",
};

const model = { brokerOnline: false, defaultTable: null, tables: {}, selected: null, badMessages: 0 };

function el(id) { return document.getElementById(id); }

function tableEntry(id) {
  if (!model.tables[id]) {
    model.tables[id] = { available: null, camera: null, state: null, stats: null, events: [], shots: [], ids: new Set() };
  }
  return model.tables[id];
}

function insertBySeq(list, ev, keep) {
  let i = list.length;
  while (i > 0 && list[i - 1].seq > ev.seq) i--;
  list.splice(i, 0, ev);
  if (list.length > keep) list.splice(0, list.length - keep);
}

function addEvent(t, ev) {
  const key = String(ev.id);
  if (t.ids.has(key)) return false; // de-duplicate by id (INTERFACES.md)
  t.ids.add(key);
  insertBySeq(t.events, ev, KEEP);
  if (ev.type === "shot_end") insertBySeq(t.shots, ev, 100);
  return true;
}

function applySnapshot(snap) {
  model.brokerOnline = snap.broker_online;
  model.defaultTable = snap.default_table;
  model.badMessages = snap.bad_messages || 0;
  model.tables = {};
  for (const [id, v] of Object.entries(snap.tables)) {
    const t = tableEntry(id);
    t.available = v.available; t.camera = v.camera; t.state = v.state; t.stats = v.stats;
    for (const ev of v.events) addEvent(t, ev);
    for (const ev of v.shots) if (!t.shots.some((s) => s.id === ev.id)) insertBySeq(t.shots, ev, 100);
  }
}

function applyUpdate(u) {
  if (u.type === "snapshot") { applySnapshot(u); return true; }
  if (u.type === "broker") { model.brokerOnline = u.online; return true; }
  if (u.type === "bad_message") { model.badMessages = u.count; return true; }
  const t = tableEntry(u.table);
  if (u.type === "event") return addEvent(t, u.value);
  t[u.type] = u.value; // available, camera, state, stats
  return true;
}

// -- rendering ---------------------------------------------------------------------------
function pickTable() {
  const ids = Object.keys(model.tables).sort();
  const wanted = new URLSearchParams(location.search).get("table");
  if (model.selected && model.tables[model.selected]) return model.selected;
  for (const cand of [wanted, model.defaultTable]) if (cand && model.tables[cand]) return cand;
  return ids.length ? ids[0] : null;
}

function renderPicker() {
  const sel = el("table-picker");
  const ids = Object.keys(model.tables).sort();
  const have = Array.from(sel.options).map((o) => o.value);
  if (have.join("\n") !== ids.join("\n")) {
    sel.textContent = "";
    for (const id of ids) {
      const o = document.createElement("option");
      o.value = id; o.textContent = id;
      sel.appendChild(o);
    }
  }
  if (model.selected) sel.value = model.selected;
}

function badge(node, text, cls) {
  node.textContent = text;
  node.className = "badge " + cls;
}

function renderStatus(t) {
  badge(el("broker-status"), model.brokerOnline ? "broker online" : "broker offline", model.brokerOnline ? "ok" : "bad");
  const a = t ? t.available : null;
  badge(el("available"), "table: " + (a || "?"), a === "online" ? "ok" : a === "offline" ? "bad" : "");
  const c = t ? t.camera : null;
  badge(el("camera"), "camera: " + (c || "?"), c === "online" ? "ok" : c ? "bad" : "");
}

function svg(tag, attrs, parent) {
  const n = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  if (parent) parent.appendChild(n);
  return n;
}

function defaultPockets(L, W) {
  const a = 0.0295, m = 0.0685;
  return [
    { id: "top_left", position_m: [-a, -a], radius_m: 0.062 },
    { id: "top_right", position_m: [L + a, -a], radius_m: 0.062 },
    { id: "bottom_right", position_m: [L + a, W + a], radius_m: 0.062 },
    { id: "bottom_left", position_m: [-a, W + a], radius_m: 0.062 },
    { id: "top_middle", position_m: [L / 2, -m], radius_m: 0.0645 },
    { id: "bottom_middle", position_m: [L / 2, W + m], radius_m: 0.0645 },
  ];
}

let drawnGeometry = "";

function drawTable(geom) {
  const key = JSON.stringify(geom);
  const root = el("table-svg");
  if (key === drawnGeometry) return;
  drawnGeometry = key;
  const L = geom.length_m, W = geom.width_m, R = geom.ball_radius_m, rail = 0.14;
  root.textContent = "";
  root.setAttribute("viewBox", `${-rail - 0.02} ${-rail - 0.02} ${L + 2 * rail + 0.04} ${W + 2 * rail + 0.04}`);
  const defs = svg("defs", {}, root);
  const clip = svg("clipPath", { id: "ball-clip" }, defs);
  svg("circle", { cx: 0, cy: 0, r: R }, clip);
  svg("rect", { x: -rail, y: -rail, width: L + 2 * rail, height: W + 2 * rail, rx: 0.05, class: "rail" }, root);
  svg("rect", { id: "felt", x: 0, y: 0, width: L, height: W, class: "felt" }, root);
  for (let i = 1; i < 8; i++) {
    if (i === 4) continue;
    for (const y of [-rail / 2, W + rail / 2]) svg("circle", { cx: (L * i) / 8, cy: y, r: 0.008, class: "diamond" }, root);
  }
  for (let i = 1; i < 4; i++) for (const x of [-rail / 2, L + rail / 2]) svg("circle", { cx: x, cy: (W * i) / 4, r: 0.008, class: "diamond" }, root);
  for (const p of geom.pockets || defaultPockets(L, W)) {
    svg("circle", { cx: p.position_m[0], cy: p.position_m[1], r: p.radius_m * 0.75, class: "pocket", "data-pocket": p.id }, root);
  }
  svg("g", { id: "balls" }, root);
}

function ballNumber(label) {
  const m = /^ball_(\d+)$/.exec(label || "");
  return m ? parseInt(m[1], 10) : null;
}

function drawBalls(balls, R) {
  const layer = el("balls");
  layer.textContent = "";
  for (const b of balls) {
    const [x, y] = b.position_m;
    const g = svg("g", { class: "ball", transform: `translate(${x} ${y})`, "data-label": b.label, "data-id": b.id, "data-x": x, "data-y": y }, layer);
    const n = ballNumber(b.label);
    const title = svg("title", {}, g);
    title.textContent = `${b.label} (${x.toFixed(3)}, ${y.toFixed(3)}) m`;
    if (b.label === "cue_ball") {
      svg("circle", { r: R, class: "ball-body cue" }, g);
      continue;
    }
    if (n === null) { svg("circle", { r: R, class: "ball-body unknown" }, g); continue; }
    const colour = COLOURS[((n - 1) % 8) + 1] || "#888";
    if (n >= 9) {
      svg("circle", { r: R, class: "ball-body", fill: "#f4f1e6" }, g);
      svg("rect", { x: -R, y: -R * 0.55, width: 2 * R, height: R * 1.1, fill: colour, "clip-path": "url(#ball-clip)" }, g);
      svg("circle", { r: R, class: "ball-edge" }, g);
    } else {
      svg("circle", { r: R, class: "ball-body", fill: colour }, g);
    }
    svg("circle", { r: R * 0.45, class: "ball-spot" }, g);
    const txt = svg("text", { class: "ball-number", "font-size": R * 0.6, "text-anchor": "middle", "dominant-baseline": "central" }, g);
    txt.textContent = String(n);
  }
}

function renderTable(t) {
  const st = t ? t.state : null;
  const geom = (st && st.table) || DEFAULT_TABLE;
  drawTable(geom);
  const balls = st && Array.isArray(st.balls) ? st.balls : [];
  drawBalls(balls, geom.ball_radius_m);
  const cap = el("table-caption");
  if (!st) { cap.textContent = "waiting for the table's state…"; return; }
  const when = st.t === null || st.t === undefined ? "" : ` at t=${Number(st.t).toFixed(2)} s`;
  cap.textContent = `${balls.length} balls on the table${when}` + (st.shot_in_progress ? " · shot in progress" : " · at rest") +
    ` · ${st.shots ?? 0} shots`;
}

function describe(ev) {
  const b = ev.balls || [];
  switch (ev.type) {
    case "shot": return `shot: ${b.join(" ")}` + (ev.speed_mps ? `, ${ev.speed_mps.toFixed(2)} m/s` : "");
    case "collision": return `collision: ${b.join(" ↔ ")}`;
    case "rebound": return `rebound: ${b.join(" ")} off ${ev.cushion || "?"}`;
    case "pot": return `pot: ${b.join(" ")} in ${ev.pocket || "?"}`;
    case "shot_end": {
      const s = ev.summary || {};
      return `shot end: first contact ${s.first_contact || "none"}, potted ${(s.potted || []).join(" ") || "none"}, ` +
        `${s.cushions ?? 0} cushions` + (s.scratch ? ", SCRATCH" : "");
    }
    default: return `${ev.type}: ${b.join(" ")}`;
  }
}

function clock(ts) {
  if (!ts) return "";
  const d = new Date(ts);
  return isNaN(d) ? "" : d.toLocaleTimeString([], { hour12: false });
}

let feedKey = "";

function renderFeed(t) {
  const feed = el("event-feed");
  const events = t ? t.events : [];
  const key = `${model.selected}|${events.length}|${events.map((e) => e.id).slice(-3).join(",")}|${events.length ? events[0].id : ""}`;
  if (key === feedKey) return; // unchanged: keep the DOM (and the reader's scroll position)
  feedKey = key;
  feed.textContent = "";
  el("event-count").textContent = events.length ? `(${events.length})` : "";
  for (let i = events.length - 1; i >= 0; i--) { // newest first
    const ev = events[i];
    const li = document.createElement("li");
    li.className = "event type-" + ev.type;
    li.dataset.id = String(ev.id); li.dataset.seq = String(ev.seq); li.dataset.type = ev.type;
    const time = document.createElement("span");
    time.className = "time";
    time.textContent = `#${ev.seq} · ${Number(ev.t).toFixed(2)} s · ${clock(ev.ts)}`;
    const what = document.createElement("span");
    what.className = "what";
    what.textContent = describe(ev);
    li.append(time, what);
    feed.appendChild(li);
  }
}

function renderShots(t) {
  const body = el("shots").querySelector("tbody");
  body.textContent = "";
  const shots = t ? t.shots : [];
  shots.forEach((ev, i) => {
    const s = ev.summary || {};
    const tr = document.createElement("tr");
    tr.className = "shot-summary" + (s.scratch ? " scratch" : "");
    tr.dataset.id = String(ev.id);
    const cells = [String(i + 1), Number(ev.t).toFixed(2), s.first_contact || "none", (s.potted || []).join(" ") || "none",
      String(s.cushions ?? 0), s.scratch ? "yes" : "no", s.duration_s === undefined ? "" : Number(s.duration_s).toFixed(2)];
    const names = ["n", "t", "first-contact", "potted", "cushions", "scratch", "duration"];
    cells.forEach((c, k) => { const td = document.createElement("td"); td.textContent = c; td.dataset.col = names[k]; tr.appendChild(td); });
    body.insertBefore(tr, body.firstChild); // newest first
  });
  const cur = el("current-shot");
  const events = t ? t.events : [];
  let start = -1;
  for (let i = events.length - 1; i >= 0; i--) {
    if (events[i].type === "shot_end") break;
    if (events[i].type === "shot") { start = i; break; }
  }
  if (start < 0) {
    cur.className = "muted";
    cur.textContent = shots.length ? "table at rest; last shot finished" : "no shot yet";
    return;
  }
  const during = events.slice(start + 1);
  const contact = during.find((e) => e.type === "collision");
  const potted = during.filter((e) => e.type === "pot").flatMap((e) => e.balls);
  const cushions = during.filter((e) => e.type === "rebound").length;
  cur.className = "live";
  cur.textContent = `in progress since t=${Number(events[start].t).toFixed(2)} s: first contact ` +
    `${contact ? contact.balls.filter((b) => b !== "cue_ball").join(" ") || contact.balls.join(" ") : "none yet"}, ` +
    `potted ${potted.join(" ") || "none"}, ${cushions} cushions, ${during.length} events`;
}

function renderStats(t) {
  const s = t ? t.stats : null;
  const foot = el("stats");
  const bad = model.badMessages ? ` · malformed messages ignored: ${model.badMessages}` : "";
  if (!s) { foot.textContent = "no stats yet" + bad; return; }
  const lat = s.event_latency_ms || {};
  const up = Number(s.uptime_s || 0);
  const parts = [
    `fps ${Number(s.fps || 0).toFixed(1)}`,
    `event latency ${lat.mean ?? "–"} ms (max ${lat.max ?? "–"})`,
    `outbox backlog ${s.outbox_pending ?? 0}`,
    `frames ${s.frames ?? 0}`,
    `MQTT ${s.mqtt_state || "?"}`,
    `up ${Math.floor(up / 3600)}h${String(Math.floor((up % 3600) / 60)).padStart(2, "0")}m`,
    `v${s.version || "?"}`,
  ];
  foot.textContent = parts.join(" · ") + bad;
  foot.dataset.outbox = String(s.outbox_pending ?? 0);
  foot.dataset.fps = String(s.fps ?? 0);
}

function render() {
  model.selected = pickTable();
  const t = model.selected ? model.tables[model.selected] : null;
  renderPicker();
  renderStatus(t);
  renderTable(t);
  renderShots(t);
  renderFeed(t);
  renderStats(t);
}

el("table-picker").addEventListener("change", (e) => {
  model.selected = e.target.value;
  const url = new URL(location.href);
  url.searchParams.set("table", model.selected);
  history.replaceState(null, "", url);
  render();
});

let pending = false;
function scheduleRender() { // one render per animation frame, however many updates arrive
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; render(); });
}

function connect() {
  const source = new EventSource("/api/stream");
  source.onopen = () => badge(el("link-status"), "live", "ok");
  source.onmessage = (msg) => { if (applyUpdate(JSON.parse(msg.data))) scheduleRender(); };
  source.onerror = () => badge(el("link-status"), "scoreboard offline, reconnecting…", "bad");
}

render();
connect();
