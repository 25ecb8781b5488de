// p2pfleet explorer page: renders snapshots pushed over Server-Sent Events.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
let latest = null;
const layout = new Map(); // graph node id -> {x, y}

function el(tag, attrs, text) {
  const node = tag.startsWith("svg:")
    ? document.createElementNS(SVG, tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

const short = (id) => (id && id.length > 14 ? id.slice(0, 6) + "…" + id.slice(-6) : id || "");

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "unknown";
  const s = Math.round(seconds);
  if (s < 0) return "overdue";
  if (s < 90) return s + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}

const watts = (w) => (w >= 10000 ? (w / 1000).toFixed(1) + " kW" : w + " W");

function matches(row) {
  const query = $("search").value.trim().toLowerCase();
  const state = $("state-filter").value;
  const region = $("region-filter").value;
  if (state === "available" ? !row.available : state && row.state !== state) return false;
  if (region && row.region !== region) return false;
  if (!query) return true;
  const haystack = [row.peer, row.owner, row.region, row.state, ...row.models].join(" ").toLowerCase();
  return query.split(/\s+/).every((word) => haystack.includes(word));
}

function renderPeers(doc) {
  const body = $("peers").tBodies[0];
  const rows = doc.peers.filter(matches);
  body.replaceChildren(
    ...rows.map((row) => {
      const tr = el("tr", { "data-peer": row.peer, "data-state": row.state });
      const cell = (text, cls, title) => {
        const td = el("td", cls ? { class: cls } : {}, text);
        if (title) td.title = title;
        tr.append(td);
        return td;
      };
      cell(short(row.peer), "mono", row.peer);
      cell(row.owner, "mono");
      cell(row.state, "state state-" + row.state);
      const battery = cell("", "battery");
      const bar = el("span", { class: "bar" });
      const fill = el("span", { class: row.battery_pct < 20 ? "fill low" : "fill" });
      fill.style.width = row.battery_pct + "%";
      bar.append(fill);
      battery.append(bar, document.createTextNode(" " + row.battery_pct + "%"));
      cell(row.charging ? "yes" : "no");
      cell(duration(row.departure_in_s));
      cell(watts(row.tier_watts));
      cell(String(row.free_slots), row.available ? "slots ok" : "slots");
      const region = cell(row.region || "(none)");
      region.append(el("span", { class: row.attested ? "tag ok" : "tag" }, row.attested ? "attested" : "self-declared"));
      cell(row.models.length ? row.models.map((m) => m.slice(0, 8)).join(" ") : "none", "mono small", row.models.join("\n"));
      cell(duration(row.age_s));
      return tr;
    })
  );
  $("peer-count").textContent = rows.length === doc.peers.length
    ? "(" + doc.peers.length + ")"
    : "(" + rows.length + " of " + doc.peers.length + ")";
  $("no-match").hidden = !(doc.peers.length && !rows.length);
}

function renderCapacity(doc) {
  const sum = doc.summary;
  $("sum-peers").textContent = sum.peers;
  $("sum-available").textContent = sum.available;
  $("sum-slots").textContent = sum.free_slots;
  $("sum-watts").textContent = watts(sum.available_watts);
  $("sum-driving").textContent = sum.by_state.driving.peers;
  const fill = (table, groups) => {
    table.tBodies[0].replaceChildren(
      ...Object.entries(groups).map(([name, c]) => {
        const tr = el("tr", { "data-group": name });
        for (const v of [name, c.peers, c.available, c.free_slots, watts(c.available_watts)]) tr.append(el("td", {}, String(v)));
        return tr;
      })
    );
  };
  fill($("by-region"), sum.by_region);
  fill($("by-state"), sum.by_state);
  const regions = Object.keys(sum.by_region);
  const select = $("region-filter");
  const chosen = select.value;
  const known = [...select.options].slice(1).map((o) => o.value);
  if (known.join() !== regions.join()) {
    select.replaceChildren(el("option", { value: "" }, "all regions"), ...regions.map((r) => el("option", { value: r }, r)));
    select.value = regions.includes(chosen) ? chosen : "";
  }
}

function renderChart(history) {
  const svg = $("chart");
  const W = 480, H = 200, L = 52, R = 52, T = 10, B = 24;
  const samples = history.samples;
  svg.replaceChildren();
  if (samples.length < 2) {
    svg.append(el("svg:text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "axis" }, "collecting samples…"));
    return;
  }
  const t0 = samples[0].t_ms, t1 = samples[samples.length - 1].t_ms;
  const maxW = Math.max(1, ...samples.map((s) => s.available_watts));
  const maxS = Math.max(1, ...samples.map((s) => Math.max(s.free_slots, s.driving)));
  const x = (t) => L + ((t - t0) / Math.max(1, t1 - t0)) * (W - L - R);
  const yW = (v) => H - B - (v / maxW) * (H - T - B);
  const yS = (v) => H - B - (v / maxS) * (H - T - B);
  const pts = (f, key) => samples.map((s) => x(s.t_ms).toFixed(1) + "," + f(s[key]).toFixed(1)).join(" ");
  svg.append(
    el("svg:polygon", { class: "area watts", points: L + "," + (H - B) + " " + pts(yW, "available_watts") + " " + x(t1) + "," + (H - B) }),
    el("svg:polyline", { class: "line watts", points: pts(yW, "available_watts") }),
    el("svg:polyline", { class: "line slots", points: pts(yS, "free_slots") }),
    el("svg:polyline", { class: "line driving", points: pts(yS, "driving") }),
    el("svg:line", { class: "axisline", x1: L, y1: H - B, x2: W - R, y2: H - B }),
    el("svg:text", { x: L - 4, y: T + 8, "text-anchor": "end", class: "axis watts" }, watts(maxW)),
    el("svg:text", { x: L - 4, y: H - B, "text-anchor": "end", class: "axis" }, "0"),
    el("svg:text", { x: W - R + 4, y: T + 8, class: "axis slots" }, maxS + " slots"),
    el("svg:text", { x: L, y: H - 6, class: "axis" }, "-" + duration((t1 - t0) / 1000)),
    el("svg:text", { x: W - R, y: H - 6, "text-anchor": "end", class: "axis" }, "now")
  );
}

function renderGraph(g) {
  const svg = $("graph");
  const W = 480, H = 320;
  const ids = g.nodes.map((n) => n.id);
  for (const id of [...layout.keys()]) if (!ids.includes(id)) layout.delete(id);
  ids.forEach((id, i) => {
    if (!layout.has(id)) {
      const angle = (2 * Math.PI * i) / ids.length;
      layout.set(id, { x: W / 2 + 110 * Math.cos(angle), y: H / 2 + 110 * Math.sin(angle) });
    }
  });
  // A small force layout: pairwise repulsion, springs of a rest length along edges,
  // a weak pull to the centre. Many steps for a new node set, a few to settle otherwise.
  const fresh = ids.some((id) => !layout.get(id).settled);
  for (let step = 0; step < (fresh ? 300 : 20); step++) {
    const force = new Map(ids.map((id) => [id, { x: 0, y: 0 }]));
    for (let i = 0; i < ids.length; i++) {
      for (let j = i + 1; j < ids.length; j++) {
        const a = layout.get(ids[i]), b = layout.get(ids[j]);
        const dx = a.x - b.x || 0.1, dy = a.y - b.y || 0.1;
        const d2 = Math.max(dx * dx + dy * dy, 25), push = 12000 / d2;
        const d = Math.sqrt(d2);
        force.get(ids[i]).x += (dx / d) * push; force.get(ids[i]).y += (dy / d) * push;
        force.get(ids[j]).x -= (dx / d) * push; force.get(ids[j]).y -= (dy / d) * push;
      }
    }
    for (const e of g.edges) {
      const a = layout.get(e.a), b = layout.get(e.b);
      const dx = b.x - a.x, dy = b.y - a.y, d = Math.max(1, Math.hypot(dx, dy));
      const pull = (d - 110) * 0.05;
      force.get(e.a).x += (dx / d) * pull; force.get(e.a).y += (dy / d) * pull;
      force.get(e.b).x -= (dx / d) * pull; force.get(e.b).y -= (dy / d) * pull;
    }
    for (const id of ids) {
      const p = layout.get(id), f = force.get(id);
      f.x += (W / 2 - p.x) * 0.02; f.y += (H / 2 - p.y) * 0.02;
      p.x = Math.min(W - 30, Math.max(30, p.x + Math.max(-6, Math.min(6, f.x))));
      p.y = Math.min(H - 30, Math.max(20, p.y + Math.max(-6, Math.min(6, f.y))));
    }
  }
  for (const id of ids) layout.get(id).settled = true;
  svg.replaceChildren(
    ...g.edges.map((e) => {
      const a = layout.get(e.a), b = layout.get(e.b);
      return el("svg:line", { class: "edge", x1: a.x.toFixed(1), y1: a.y.toFixed(1), x2: b.x.toFixed(1), y2: b.y.toFixed(1) });
    }),
    ...g.nodes.map((n) => {
      const p = layout.get(n.id);
      const group = el("svg:g", { class: "gnode " + (n.kind === "node" ? n.state : n.kind), "data-peer": n.id });
      group.append(
        el("svg:circle", { cx: p.x.toFixed(1), cy: p.y.toFixed(1), r: n.kind === "explorer" ? 7 : 9 }),
        el("svg:text", { x: p.x.toFixed(1), y: (p.y + 21).toFixed(1), "text-anchor": "middle" }, n.id.slice(-5)),
        el("svg:title", {}, n.id + (n.state ? " (" + n.state + ")" : ""))
      );
      return group;
    })
  );
  if (!g.nodes.length) svg.append(el("svg:text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "axis" }, "no status answers yet"));
}

function renderJobs(jobs) {
  $("jobs").tBodies[0].replaceChildren(
    ...jobs.map((job) => {
      const tr = el("tr", { "data-job": job.job_id });
      tr.append(
        el("td", { class: "mono", title: job.job_id }, job.job_id.slice(0, 12)),
        el("td", { class: "mono small", title: job.nodes.join("\n") }, job.nodes.map((n) => n.slice(-5)).join(" ")),
        el("td", {}, job.shards_done + " / " + job.shards_assigned),
        el("td", {}, duration((Date.now() - job.last_ms) / 1000) + " ago")
      );
      return tr;
    })
  );
  $("no-jobs").hidden = jobs.length > 0;
}

function render(doc) {
  latest = doc;
  const me = doc.explorer;
  $("whoami").textContent = "explorer " + short(me.peer) + " · " + me.connected + " connected · regions: " +
    (me.regions.length ? me.regions.join(", ") : "none yet") + (me.following_all_regions ? " (all discovered)" : "");
  $("empty").hidden = doc.peers.length > 0;
  $("empty-bootstrap").textContent = me.bootstrap.join(", ") || "(none given)";
  $("empty-regions").textContent = me.regions.length
    ? me.regions.join(", ")
    : me.following_all_regions
      ? "no region yet (regions are learned from the nodes' status answers; name one with --region)"
      : "no region";
  $("empty-connected").textContent = me.connected;
  renderCapacity(doc);
  renderPeers(doc);
  renderChart(doc.history);
  renderGraph(doc.graph);
  renderJobs(doc.jobs);
  document.body.dataset.version = doc.version;
}

function connect() {
  const live = $("live");
  const source = new EventSource("/api/events");
  source.addEventListener("snapshot", (event) => {
    live.textContent = "live";
    live.className = "live on";
    render(JSON.parse(event.data));
  });
  source.onerror = () => {
    live.textContent = "reconnecting…";
    live.className = "live off";
  };
}

document.addEventListener("DOMContentLoaded", () => {
  for (const id of ["search", "state-filter", "region-filter"]) {
    $(id).addEventListener("input", () => latest && renderPeers(latest));
  }
  connect();
});
