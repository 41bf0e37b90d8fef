// The sebridge dashboard: plain JavaScript, no build step, embedded in the binary.
// Every number shown comes from /status, /series.json or /incidents.json; cells carry
// data-field attributes so a browser test can compare them with /status.
"use strict";

const PAGE = 50;
const view = { page: 0, filter: "", problems: true, incident: null };
let last = null;

const $ = (id) => document.getElementById(id);
function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) =>
    ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
function when(secs) { return secs ? new Date(secs * 1000).toISOString().replace(".000Z", "Z") : ""; }
function ago(secs) {
  if (secs == null) return "";
  const d = Math.max(0, Math.round(Date.now() / 1000 - secs));
  if (d < 120) return d + " s";
  if (d < 7200) return Math.round(d / 60) + " min";
  if (d < 172800) return Math.round(d / 3600) + " h";
  return Math.round(d / 86400) + " d";
}
function spark(points) {
  if (!points || points.length < 2) return '<svg class="spark"></svg>';
  const max = Math.max(1, ...points), w = 120, h = 22, n = points.length;
  const xy = points.map((v, i) => `${((i / (n - 1)) * w).toFixed(1)},${(h - 1 - (v / max) * (h - 2)).toFixed(1)}`);
  return `<svg class="spark" viewBox="0 0 ${w} ${h}" preserveAspectRatio="none"><title>max ${max.toFixed(1)}/s</title>` +
    `<polyline points="${xy.join(" ")}"/></svg>`;
}

// The hash keeps the view (#filter=acme&page=2), so a filtered page can be bookmarked.
function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  view.filter = p.get("filter") || "";
  view.page = Math.max(0, (parseInt(p.get("page") || "1", 10) || 1) - 1);
  view.problems = p.get("problems") !== "0";
  view.incident = p.get("incident") ? Number(p.get("incident")) : null;
  $("filter").value = view.filter;
  $("problems").checked = view.problems;
}
function writeHash() {
  const p = new URLSearchParams();
  if (view.filter) p.set("filter", view.filter);
  if (view.page) p.set("page", String(view.page + 1));
  if (!view.problems) p.set("problems", "0");
  if (view.incident != null) p.set("incident", String(view.incident));
  history.replaceState(null, "", p.toString() ? "#" + p : location.pathname);
}

const RANK = { failed: 0, backoff: 1, starting: 2, catching_up: 3, idle: 4 };
function visibleTenants(s) {
  const f = view.filter.toLowerCase();
  let rows = s.tenants.filter((t) => !f || t.tenant.toLowerCase().includes(f) ||
    t.state.includes(f) || (t.last_error || "").toLowerCase().includes(f));
  rows.sort((a, b) => (view.problems ? (RANK[a.state] ?? 5) - (RANK[b.state] ?? 5) : 0) ||
    // Numeric-aware: tenant-2 before tenant-10.
    a.tenant.localeCompare(b.tenant, undefined, { numeric: true }) || a.source.localeCompare(b.source));
  return rows;
}

function renderTenants(s, series) {
  const rows = visibleTenants(s);
  const pages = Math.max(1, Math.ceil(rows.length / PAGE));
  view.page = Math.min(view.page, pages - 1);
  const shown = rows.slice(view.page * PAGE, (view.page + 1) * PAGE);
  const names = new Set(s.tenants.map((t) => t.tenant));
  $("tenants-count").textContent = `${names.size} tenant${names.size === 1 ? "" : "s"}`;
  $("page").textContent = rows.length
    ? `${view.page * PAGE + 1}–${view.page * PAGE + shown.length} of ${rows.length}` : "none match";
  $("page").dataset.total = String(rows.length);
  $("prev").disabled = view.page === 0;
  $("next").disabled = view.page >= pages - 1;
  $("tenants").innerHTML = shown.map((t) =>
    `<tr data-tenant="${esc(t.tenant)}" data-source="${esc(t.source)}"><td>${esc(t.tenant)}</td><td>${esc(t.source)}</td>` +
    `<td class="${esc(t.state)}" data-field="state">${esc(t.state.replace("_", " "))}</td>` +
    `<td title="${esc(when(t.cursor_time))}">${esc(ago(t.cursor_time))}</td>` +
    `<td class="num" data-field="events_ingested">${t.events_ingested}</td>` +
    `<td>${spark(series && series.tenants[t.tenant])}</td>` +
    `<td class="num" data-field="rate_limit_remaining">${t.rate_limit_remaining ?? ""}</td>` +
    `<td class="num" data-field="requests">${t.requests}</td>` +
    `<td class="err" data-field="last_error" title="${esc(t.last_error)}">${esc(t.last_error)}</td></tr>`).join("");
  return shown.map((t) => t.tenant);
}

function renderStreams(s) {
  const streams = s.tenants.filter((t) => t.connection != null);
  $("streams-section").hidden = streams.length === 0;
  $("streams").innerHTML = streams.slice(0, 200).map((t) => {
    const up = t.connection.startsWith("connected");
    return `<tr data-tenant="${esc(t.tenant)}"><td>${esc(t.tenant)}</td><td class="${esc(t.state)}">${esc(t.state)}</td>` +
      `<td class="num">${t.events_ingested}</td><td class="${up ? "connected" : "bad"}" data-field="connection">${esc(t.connection)}</td></tr>`;
  }).join("");
}

function renderSinks(s, series) {
  $("sinks").innerHTML = s.sinks.map((k) => {
    const pts = series && series.sinks[k.sink];
    const now = pts && pts.length ? pts[pts.length - 1] : 0;
    return `<tr data-sink="${esc(k.sink)}"><td>${esc(k.sink)}</td><td>${esc(k.kind)}</td>` +
      `<td class="${k.healthy ? "ok" : "bad"}" data-field="healthy">${k.healthy ? "ok" : "failing"}</td>` +
      `<td class="num" data-field="backlog">${k.backlog}</td><td class="num">${now.toFixed(0)}</td><td>${spark(pts)}</td>` +
      `<td class="num" data-field="events_written">${k.events_written}</td><td class="num" data-field="retries">${k.retries}</td>` +
      `<td class="num" data-field="events_dead_lettered">${k.events_dead_lettered}</td>` +
      `<td class="err" title="${esc(k.last_error)}">${esc(k.last_error)}</td></tr>`;
  }).join("");
  const j = s.journal;
  $("journal").innerHTML = j ? `journal: <span class="${esc(j.retention)}">${esc(j.retention)}</span>, ${j.rows} rows` +
    (j.oldest_age_secs != null ? `, oldest ${esc(ago(Date.now() / 1000 - j.oldest_age_secs))} old` : "") +
    (j.message ? ` — ${esc(j.message)}` : "") : "";
}

function renderContainment(s) {
  const c = s.containment || [];
  $("containment-section").hidden = c.length === 0;
  $("containment").innerHTML = c.map((x) =>
    `<tr><td>${esc(x.tenant)}</td><td>${esc(x.rules.join(", "))}</td>` +
    `<td class="${esc(x.write_scope)}">${esc(x.write_scope.replace("_", " "))}</td><td>${esc(x.warning)}</td></tr>`).join("");
}

function badges(s) {
  const failing = s.tenants.filter((t) => t.state === "failed").length;
  const sinksDown = s.sinks.filter((k) => !k.healthy).length;
  const b = [];
  b.push(failing ? `<span class="badge bad">${failing} tenant${failing === 1 ? "" : "s"} failing</span>` : `<span class="badge ok">tenants ok</span>`);
  b.push(sinksDown ? `<span class="badge bad">${sinksDown} sink${sinksDown === 1 ? "" : "s"} failing</span>` : `<span class="badge ok">sinks ok</span>`);
  if (s.cluster) b.push(`<span class="badge warn">replica ${esc(s.cluster.replica)}</span>`);
  $("badges").innerHTML = b.join("");
}

async function refresh() {
  try {
    const s = await (await fetch("/status")).json();
    last = s;
    $("head").textContent = "journal head " + s.journal_head;
    badges(s);
    // Series of the tenants on this page only: cheap with a thousand tenants.
    const pageNames = visibleTenants(s).slice(view.page * PAGE, (view.page + 1) * PAGE).map((t) => t.tenant);
    let series = null;
    try {
      const r = await fetch("/series.json?tenants=" + encodeURIComponent([...new Set(pageNames)].join(",")));
      if (r.ok) series = await r.json();
    } catch (e) { /* charts stay empty */ }
    renderTenants(s, series);
    renderStreams(s);
    renderSinks(s, series);
    renderContainment(s);
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
    document.body.dataset.journalHead = String(s.journal_head);
    document.body.dataset.loaded = "1";
  } catch (e) {
    $("head").textContent = "(sebridge unreachable)";
  }
}

function containmentText(i) {
  if (i.isolation_pending) {
    const moved = i.moved ? ", in triage" : "";
    return `<span class="pending">${esc(i.isolation_pending.state)} since ${esc(when(i.isolation_pending.since / 1000))}</span>${moved}`;
  }
  // The server's words: done, failed, queued or held back (its reason is in the audit trail).
  const c = i.containment ? i.containment.short : "-";
  if (c === "-") return "";
  const failed = /FAILED/.test(c), waiting = /queued|retrying|held back/.test(c);
  return failed ? `<span class="failed">${esc(c)}</span>` : waiting ? `<span class="pending">${esc(c)}</span>` : esc(c);
}

async function refreshIncidents() {
  try {
    const r = await fetch("/incidents.json");
    if (!r.ok) return;
    const d = await r.json(), s = d.summary;
    $("incidents-section").hidden = false;
    $("incidents-summary").textContent =
      `${s.open} open, ${s.closing} closing, ${s.closed} closed | ServiceNow ${s.snow_tickets} | XDR ${s.xdr_incidents} | ` +
      `isolated ${s.isolated_now}` + (s.isolation_pending ? ` (${s.isolation_pending} pending: host not checked in)` : "") +
      ` | in triage ${s.moved_now} | outbox ${s.ops_pending} pending` + (s.ops_failed ? `, ${s.ops_failed} failed` : "");
    $("incidents").innerHTML = d.incidents.map((i) =>
      `<tr class="clickable${view.incident === i.id ? " selected" : ""}" data-incident="${i.id}"><td>${i.id}</td><td>${esc(i.tenant)}</td>` +
      `<td class="${i.status === "open" ? "backoff" : "ok"}">${esc(i.status)}</td><td>${esc(i.severity)}</td><td class="num">${i.events}</td>` +
      `<td>${esc(i.servicenow ?? "…")}</td><td>${esc(i.xdr ?? "…")}</td><td>${containmentText(i)}</td><td>${esc(i.title)}</td></tr>`).join("");
    if (view.incident != null) showIncident(view.incident);
  } catch (e) { /* no incident service */ }
}

async function showIncident(id) {
  view.incident = id;
  const r = await fetch(`/incidents/${id}`);
  if (!r.ok) { $("incident-detail").hidden = true; return; }
  const d = await r.json(), i = d.incident;
  $("incident-detail").hidden = false;
  $("incident-title").textContent = `#${i.id} ${i.title}`;
  $("incident-facts").textContent = [`tenant ${i.tenant}`, `status ${i.status}`, `ServiceNow ${i.snow_number ?? "(not yet)"}`,
    `XDR ${i.xdr_id ?? "(not yet)"}`, `host ${i.hostname ?? "-"}`, `isolation ${i.isolation_state ?? "-"}`].join(" · ");
  $("audit").innerHTML = d.audit.map((a) =>
    `<tr data-audit="${esc(a.action)}"><td>${esc(when(a.at / 1000))}</td><td>${esc(a.actor)}</td><td>${esc(a.action)}</td><td>${esc(a.detail)}</td></tr>`).join("");
}

$("filter").addEventListener("input", (e) => { view.filter = e.target.value; view.page = 0; writeHash(); if (last) refresh(); });
$("problems").addEventListener("change", (e) => { view.problems = e.target.checked; writeHash(); if (last) refresh(); });
$("prev").addEventListener("click", () => { view.page = Math.max(0, view.page - 1); writeHash(); refresh(); });
$("next").addEventListener("click", () => { view.page += 1; writeHash(); refresh(); });
$("incidents").addEventListener("click", (e) => {
  const tr = e.target.closest("tr[data-incident]");
  if (tr) { showIncident(Number(tr.dataset.incident)); writeHash(); }
});
window.addEventListener("hashchange", () => { readHash(); refresh(); });

// With hundreds of tenants /status is large: refresh less often, the page stays responsive.
async function loop() {
  await refresh();
  setTimeout(loop, last && last.tenants.length > 300 ? 3000 : 1000);
}
readHash();
loop();
refreshIncidents();
setInterval(refreshIncidents, 2000);
