// callgrid console: the attendant and operator views. Talks only to the
// console's own JSON and Server-Sent Events endpoints, with the bearer
// token kept in this tab's session storage (never a cookie). Writes text,
// never markup, into the page.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "callgrid.token";
let session = null;
let live = null; // the AbortController of the open event stream
let parkClockOffset = 0;
const state = { tenant: "", acting: "", directory: null, lamps: new Map(), parked: [] };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function authHeaders(extra) {
  const h = Object.assign({}, extra || {});
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) h["Authorization"] = "Bearer " + token;
  return h;
}

function setLink(s, text) {
  const link = $("link");
  link.dataset.state = s;
  document.body.dataset.link = s;
  link.textContent = text || { live: "live", reconnecting: "reconnecting…", refused: "refused", connecting: "connecting…" }[s];
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Follows a Server-Sent Events endpoint with fetch (so the token travels in
// a header), reconnecting with backoff until stopped. A refusal (4xx) stops
// it and is shown; anything else is "reconnecting".
async function follow(url, handlers) {
  if (live) live.abort();
  const ctl = new AbortController();
  live = ctl;
  let delay = 250;
  setLink("connecting");
  while (!ctl.signal.aborted) {
    try {
      const res = await fetch(url, { headers: authHeaders({ Accept: "text/event-stream" }), signal: ctl.signal, cache: "no-store" });
      if (res.status >= 400 && res.status < 500 && res.status !== 429) {
        const body = await res.json().catch(() => ({ message: res.statusText }));
        if (res.status === 401) { sessionStorage.removeItem(TOKEN_KEY); }
        refused(body.message || res.statusText);
        setLink("refused");
        if (handlers.refused) handlers.refused(body);
        return;
      }
      if (!res.ok || !res.body) throw new Error(res.statusText);
      $("refused").hidden = true;
      setLink("live");
      delay = 250;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          dispatch(buf.slice(0, cut), handlers);
          buf = buf.slice(cut + 2);
        }
      }
    } catch (e) {
      if (ctl.signal.aborted) return;
    }
    if (ctl.signal.aborted) return;
    setLink("reconnecting");
    if (handlers.lost) handlers.lost();
    await sleep(delay);
    delay = Math.min(delay * 2, 4000);
  }
}

function dispatch(block, handlers) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (!data.length || !handlers[name]) return;
  try { handlers[name](JSON.parse(data.join("\n"))); } catch (e) { console.error(name, e); }
}

function refused(message) {
  const p = $("refused");
  p.textContent = "Refused: " + message;
  p.hidden = false;
}

// One id per click: asking again about the same click reuses it, so the
// cluster answers with the first outcome and never acts twice.
function newRequestId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "page-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function post(path, body, requestId) {
  let res;
  try {
    res = await fetch(path, {
      method: "POST",
      headers: authHeaders({ "Content-Type": "application/json", "X-Callgrid-Console": "1", "Request-Id": requestId }),
      body: JSON.stringify(body),
    });
  } catch (e) {
    return { ok: false, result: "outcome_unknown", message: "the node did not answer", undecided: true };
  }
  const json = await res.json().catch(() => ({ message: res.statusText }));
  if (!res.ok) {
    const undecided = json.code === "outcome_unknown" || json.code === "not_decided";
    return { ok: false, result: json.code || "error", message: json.message, undecided };
  }
  return json;
}

// ---- attendant ----------------------------------------------------------

const OUTCOMES = {
  picked_up: (o) => `Picked up call ${o.call_id} (ringing for ${o.from})`,
  invalid_extension: () => "Refused: no such extension in this tenant",
  no_alerting_call: () => "Refused: nothing is ringing there that you could pick up",
  already_answered: () => "Refused: somebody else answered first",
  not_permitted: () => "Refused: this extension may not do that",
  parked: (o) => `Parked on code ${o.code}`,
  not_answered: () => "Refused: only the answerer of a call can park it",
  no_park_policy: () => "Refused: this extension has no park policy",
  parking_not_allowed: () => "Refused: this extension's park policy does not allow parking",
  range_full: () => "Refused: every park code is taken",
  unknown_call: () => "Refused: no such call",
  retrieved: (o) => `Retrieved call ${o.call_id} from code ${o.code}`,
  unknown_code: () => "Refused: nothing is parked on that code",
  call_ended: () => "Refused: that call has ended",
  other_park_group: () => "Refused: that call is parked in another park group",
  answered: () => "Answered",
  not_alerting: () => "Refused: this extension is not alerted by that call",
  ended: () => "Hung up",
  already_ended: () => "The call had already ended",
  not_in_call: () => "Refused: this extension is not in that call",
};

function showOutcome(o, again) {
  const p = $("action-result");
  const say = OUTCOMES[o.result];
  if (o.undecided) p.textContent = "Not decided yet (" + o.message + ") ";
  else p.textContent = o.message ? "Refused: " + o.message : say ? say(o) : o.result;
  if (o.undecided && again) p.append(el("button", { type: "button", id: "ask-again", onclick: again }, "Ask again"));
  p.dataset.ok = String(!!o.ok);
  p.dataset.result = o.result;
}

function requireActing() {
  if (state.acting) return true;
  showOutcome({ ok: false, result: "no_acting", message: "choose the extension you act as first" });
  return false;
}

async function act(path, body, requestId) {
  const id = requestId || newRequestId();
  const url = `/api/tenants/${encodeURIComponent(state.tenant)}/${path}`;
  showOutcome(await post(url, body, id), () => act(path, body, id));
}

// A ringing lamp: the acting extension's own is answered, another's is
// picked up (BLF pickup of the call the lamp showed).
function pickLamp(number) {
  const lamp = state.lamps.get(number);
  if (!lamp || lamp.state !== "ringing" || !requireActing()) return;
  if (number === state.acting) act("answer", { by: state.acting, call_id: lamp.call_id });
  else act("pickup", { kind: "blf", picker: state.acting, target: number, call_id: lamp.call_id });
}

function lampTile(ext) {
  const lamp = state.lamps.get(ext.number) || { state: "unknown" };
  // A lamp lit by the extension's own outgoing call names nobody.
  const shown = (lamp.state === "ringing" || lamp.state === "busy") && lamp.caller && lamp.caller !== ext.number;
  return el("button", {
    type: "button", class: "lamp" + (ext.number === state.acting ? " me" : ""),
    "data-lamp": ext.number, "data-state": lamp.state, "data-call": lamp.call_id,
    title: lamp.state !== "ringing" ? lamp.state : ext.number === state.acting ? "Answer this call" : "Pick this call up",
    onclick: () => pickLamp(ext.number),
  },
    el("span", { class: "num", text: ext.number }),
    el("span", { class: "name", text: ext.name || "" }),
    el("span", { class: "state", text: lamp.state }),
    el("span", { class: "caller", text: shown ? "from " + lamp.caller : "" }));
}

function renderLamps() {
  const grid = $("lamps");
  grid.replaceChildren();
  if (!state.directory) return;
  if (!state.directory.extensions.length) grid.append(el("p", { class: "empty", text: "No extensions in this tenant." }));
  for (const ext of state.directory.extensions) grid.append(lampTile(ext));
  renderMyCall();
}

// One lamp changed: only its tile is drawn again.
function renderLamp(number) {
  const ext = state.directory && state.directory.extensions.find((e) => e.number === number);
  const tile = ext && $("lamps").querySelector(`[data-lamp="${CSS.escape(number)}"]`);
  if (!tile) return renderLamps();
  tile.replaceWith(lampTile(ext));
  if (number === state.acting) renderMyCall();
}

function renderMyCall() {
  const box = $("my-call");
  box.replaceChildren();
  const mine = state.acting && state.lamps.get(state.acting);
  if (!mine || mine.state !== "busy" || !mine.call_id) {
    box.append(el("p", { class: "empty", text: state.acting ? "No call." : "Choose who you act as." }));
    return;
  }
  box.append(
    el("p", { id: "my-call-info", "data-call": mine.call_id, text: `In call ${mine.call_id}` + (mine.caller ? ` with ${mine.caller}` : "") }),
    el("button", { id: "park-button", type: "button", onclick: () => act("park", { by: state.acting, call_id: mine.call_id }) }, "Park"),
    " ",
    el("button", { id: "hangup-button", type: "button", onclick: () => act("hangup", { by: state.acting, call_id: mine.call_id }) }, "Hang up"));
}

function countdown(p) {
  if (p.ringing_back) return "ringing back";
  const left = Math.max(0, Math.round((p.ring_back_at_ms - (Date.now() + parkClockOffset)) / 1000));
  return `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
}

function renderParked() {
  const body = $("parked");
  body.replaceChildren();
  if (!state.parked.length) body.append(el("tr", {}, el("td", { colspan: 5, class: "empty", text: "Nothing parked." })));
  for (const p of state.parked) {
    body.append(el("tr", { "data-park-code": p.code, "data-call": p.call_id },
      el("td", { class: "code", text: p.code }),
      el("td", { text: p.caller || "" }),
      el("td", { text: p.parked_by }),
      el("td", { class: "countdown", text: countdown(p) }),
      el("td", {}, el("button", { type: "button", class: "retrieve", onclick: () => requireActing() && act("retrieve", { by: state.acting, code: p.code }) }, "Retrieve"))));
  }
}

function tickCountdowns() {
  for (const row of document.querySelectorAll("#parked tr[data-park-code]")) {
    const p = state.parked.find((x) => String(x.code) === row.dataset.parkCode);
    if (p) row.querySelector(".countdown").textContent = countdown(p);
  }
}

function renderGroups() {
  const d = state.directory;
  const groups = $("call-groups");
  groups.replaceChildren();
  if (!d.call_groups.length) groups.append(el("li", { class: "empty", text: "No call groups." }));
  for (const g of d.call_groups) {
    const members = g.members.map((m) => `${m.extension} (${m.alert}${m.delay_secs ? `, after ${m.delay_secs} s` : ""})`).join(", ");
    groups.append(el("li", { "data-owner": g.owner, text: `${g.owner} rings ${members || "nobody"} · ${g.routing.replaceAll("_", " ")}` }));
  }
  const named = $("named-groups");
  named.replaceChildren();
  const names = Object.keys(d.named_groups);
  if (!names.length) named.append(el("li", { class: "empty", text: "No named groups." }));
  for (const name of names) named.append(el("li", { "data-group": name, text: `${name}: ${d.named_groups[name].join(", ")}` }));
  const buttons = $("named-buttons");
  buttons.replaceChildren();
  const me = d.extensions.find((e) => e.number === state.acting);
  for (const name of (me && me.pickup_groups) || []) {
    buttons.append(el("button", { type: "button", "data-named": name, onclick: () => requireActing() && act("pickup", { kind: "named", picker: state.acting, group: name }) }, `88${name} pickup`), " ");
  }
}

function renderActing() {
  const select = $("acting");
  const fixed = session.role === "extension_user";
  select.replaceChildren(el("option", { value: "", text: fixed ? session.extension : "(nobody)" }));
  if (fixed) { select.firstChild.value = session.extension; select.disabled = true; return; }
  for (const e of (state.directory ? state.directory.extensions : [])) {
    select.append(el("option", { value: e.number, text: e.number + (e.name ? " " + e.name : "") }));
  }
  select.value = state.acting;
}

function notice(n) {
  const d = n.detail;
  let text;
  switch (n.kind) {
    case "missed_call":
      text = `${n.extension} missed a call from ${d.caller || "unknown"}` + (d.answered_by ? ` — answered by ${d.answered_by} (${d.how.replaceAll("_", " ")})` : "");
      break;
    case "park_ring_back":
      text = `Call parked on ${d.code} rings back ${n.extension}`;
      break;
    case "alert":
      if (n.extension !== state.acting) return;
      text = `${n.extension} is alerted by a call from ${d.caller || "unknown"} to ${d.callee}`;
      break;
    default:
      return;
  }
  const feed = $("feed");
  feed.prepend(el("li", { "data-kind": n.kind, text: `${new Date().toLocaleTimeString()} ${text}` }));
  while (feed.children.length > 50) feed.lastChild.remove();
}

function followTenant() {
  state.lamps.clear();
  state.directory = null;
  state.parked = [];
  renderLamps();
  renderParked();
  $("feed").replaceChildren();
  const url = new URL(location.href);
  url.searchParams.set("tenant", state.tenant);
  if (state.acting) url.searchParams.set("as", state.acting); else url.searchParams.delete("as");
  history.replaceState(null, "", url);
  if (!state.tenant) { refused("no tenant to show"); return; }
  follow(`/api/tenants/${encodeURIComponent(state.tenant)}/events?as=${encodeURIComponent(state.acting)}`, {
    directory(d) { state.directory = d; state.lamps.clear(); renderActing(); renderGroups(); renderLamps(); },
    parked(p) { parkClockOffset = p.now_ms - Date.now(); state.parked = p.parked; renderParked(); },
    lamp(l) { if (l.extension) { state.lamps.set(l.extension, l); renderLamp(l.extension); } },
    notice,
    refused() { state.directory = null; state.lamps.clear(); renderLamps(); },
  });
}

async function startAttendant() {
  $("attendant").hidden = false;
  const params = new URLSearchParams(location.search);
  const tenants = new Set();
  if (session.tenant) tenants.add(session.tenant);
  if (session.role === "development" || session.role === "cluster_admin") {
    const res = await fetch("/api/tenants", { headers: authHeaders() });
    if (res.ok) for (const t of await res.json()) tenants.add(t);
  }
  const wanted = params.get("tenant");
  if (wanted) tenants.add(wanted);
  const select = $("tenant");
  select.replaceChildren(...[...tenants].map((t) => el("option", { value: t, text: t })));
  state.tenant = wanted || session.tenant || [...tenants][0] || "";
  select.value = state.tenant;
  select.onchange = () => { state.tenant = select.value; state.acting = ""; followTenant(); };
  state.acting = session.role === "extension_user" ? session.extension : params.get("as") || "";
  $("acting").onchange = (e) => { state.acting = e.target.value; followTenant(); };
  $("group-pickup").onclick = () => requireActing() && act("pickup", { kind: "group", picker: state.acting });
  renderActing();
  setInterval(tickCountdowns, 1000);
  followTenant();
}

// ---- operator -------------------------------------------------------------

const PALETTE = ["#3b6fd4", "#2e9d57", "#d64545", "#8e44ad", "#e08a00", "#16a2b8", "#6d4c41", "#c2185b"];
const colour = (node) => (node ? PALETTE[(node - 1) % PALETTE.length] : "#9aa1ab");

function renderCluster(c) {
  const summary = $("summary");
  const members = c.members;
  summary.replaceChildren();
  for (const [k, v] of [
    ["This node", `${c.node_id} (${c.state})`],
    ["Leader", c.leader_id ?? "none"],
    ["Term", c.term],
    ["Commit index", c.commit_index],
    ["Applied index", c.applied_index],
    ["Members", `${members.filter((m) => m.up).length} up of ${members.length} (${members.filter((m) => m.voter).length} voters)`],
    ["Shard map epoch", c.shard_epoch],
  ]) summary.append(el("dt", { text: k }), el("dd", { text: v }));
  const body = $("members");
  body.replaceChildren();
  for (const m of members) {
    body.append(el("tr", { "data-member": m.node_id, "data-up": String(m.up) },
      el("td", { text: m.node_id + (m.node_id === c.leader_id ? " ★" : "") }),
      el("td", { text: m.addr }),
      el("td", { text: m.voter ? "voter" : "learner" }),
      el("td", { class: m.up ? "up" : "down", text: m.up ? "up" : "down", title: m.error || "" }),
      el("td", { text: m.up ? m.state : "—" }),
      el("td", { text: m.up ? m.applied_index : "—" }),
      el("td", { text: m.shards })));
  }
  const grid = $("shards");
  grid.replaceChildren();
  c.shard_owners.forEach((owner, shard) => {
    const cell = el("div", { class: "shard", "data-shard": shard, "data-owner": owner, title: `shard ${shard} → node ${owner}`, text: owner });
    cell.style.background = colour(owner);
    grid.append(cell);
  });
  const legend = $("legend");
  legend.replaceChildren();
  for (const m of members) {
    const item = el("span", { text: `node ${m.node_id}${m.up ? "" : " (down)"}` });
    item.style.setProperty("--c", colour(m.node_id));
    legend.append(item);
  }
}

function startOperator() {
  $("operator").hidden = false;
  follow("/api/cluster/events", { cluster: renderCluster });
}

// ---- start ------------------------------------------------------------------

async function start() {
  let res;
  try {
    res = await fetch("/api/session", { headers: authHeaders() });
  } catch (e) {
    setLink("reconnecting");
    await sleep(1000);
    return start();
  }
  if (res.status === 401) {
    const body = await res.json().catch(() => ({}));
    if (sessionStorage.getItem(TOKEN_KEY)) $("login-error").textContent = "Unknown token.";
    sessionStorage.removeItem(TOKEN_KEY);
    $("login").hidden = false;
    setLink("refused", "signed out");
    $("token").focus();
    return body;
  }
  session = await res.json();
  $("login").hidden = true;
  const who = {
    development: "development mode (no tokens)",
    cluster_admin: "cluster admin",
    tenant_admin: `tenant admin of ${session.tenant}`,
    extension_user: `extension ${session.extension} of ${session.tenant}`,
  }[session.role];
  $("who").textContent = who || session.role;
  $("sign-out").hidden = session.role === "development";
  const operator = session.role === "development" || session.role === "cluster_admin";
  $("nav-operator").hidden = !operator;
  const view = location.pathname === "/operator" ? "operator" : "attendant";
  $("nav-" + view).classList.add("current");
  if (view === "operator") {
    if (!operator) { refused("the operator view needs a cluster_admin token"); setLink("refused"); return; }
    startOperator();
  } else {
    startAttendant();
  }
}

$("login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const token = $("token").value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  $("token").value = "";
  start();
});
$("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
});
start();
