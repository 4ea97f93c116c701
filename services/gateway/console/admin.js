// The admin's page: queues (skills, strategy, service level, overflow), a line's IVR flow (drawn as a
// graph, edited as data, the server's refusals marked on the nodes at fault), its business hours and
// holidays, and the API keys of named users with their roles. Every change is one request to the API;
// a refusal shows its message and marks the fields it names.

import { $, api, button, label, svg } from "./common.js";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
// The hours form's field per weekday, before its holidays (labelled with the rest, by data-label).
$("hours-country").labels[0].before(...DAYS.flatMap((day) => {
  const name = document.createElement("label");
  name.htmlFor = `hours-${day}`;
  name.dataset.label = `day-${day}`;
  name.textContent = day;
  const hours = document.createElement("input");
  hours.id = `hours-${day}`;
  hours.maxLength = 100;
  hours.placeholder = "09:00-18:00";
  return [name, hours];
}));

let queues = [];
let editing = null; // the queue in the form, or null for a new one
let line = null; // the line whose flow and hours are in the forms
let run = 0; // an answer that comes after the page was left (or its session ended) paints nothing
let lineLoads = 0; // a line's answer that comes after another line was picked paints nothing

// -- errors shown in place ---------------------------------------------------------------------------

// Marks the inputs a refusal names (by the API's field paths) and says the refusal in `where`.
function refused(where, error, fieldsOf) {
  const violations = error.violations || [];
  const said = violations.map((v) => `${v.field}: ${v.description}`);
  $(where).textContent = [error.message, ...said].join(" · ");
  for (const violation of violations) {
    for (const id of fieldsOf(violation.field)) $(id)?.setAttribute("aria-invalid", "true");
  }
}

function clearRefusal(where, form) {
  $(where).textContent = "";
  for (const input of $(form).querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

// -- queues ------------------------------------------------------------------------------------------

// "member:3, vip" -> [{skill, min_proficiency}] (no level: any proficiency), or null when not so written.
export function parseRequirements(text) {
  const skills = text.split(",").map((part) => part.trim()).filter(Boolean).map((part) => {
    const match = /^([^:\s]+)\s*(?::\s*(\d+))?$/.exec(part);
    return match ? { skill: match[1], min_proficiency: Number(match[2] || 0) } : null;
  });
  return skills.length && skills.every(Boolean) ? skills : null;
}

const requirementsText = (skills) =>
  skills.map((s) => (s.min_proficiency ? `${s.skill}:${s.min_proficiency}` : s.skill)).join(", ");

// The queue's rules with the form's fields over them: what the form does not show is kept as it was.
export function rulesFrom(form, before = {}) {
  const rules = { ...before };
  rules.display_name = form.displayName;
  rules.channel = form.channel;
  rules.skills = parseRequirements(form.skills);
  rules.skill_match = form.skillMatch;
  rules.strategy = form.strategy;
  rules.service_level_threshold_seconds = Number(form.threshold);
  rules.overflow = form.overflowQueue ? { after_seconds: Number(form.overflowAfter), queue_id: form.overflowQueue } : null;
  return rules;
}

function queueFields(field) {
  const names = {
    queue_id: "queue-id", skills: "queue-skills", strategy: "queue-strategy", channel: "queue-channel",
    service_level_threshold_seconds: "queue-threshold", overflow: "queue-overflow-after", display_name: "queue-name",
  };
  return Object.entries(names).filter(([name]) => field.includes(name)).map(([, id]) => id)
    .concat(field.includes("overflow") ? ["queue-overflow-queue"] : []);
}

function paintQueues() {
  $("queue-rows").replaceChildren(...queues.map((queue) => {
    const row = document.createElement("tr");
    row.dataset.queue = queue.queue_id;
    const { rules } = queue;
    const overflow = rules.overflow ? `${rules.overflow.after_seconds} s → ${rules.overflow.queue_id}` : "–";
    for (const text of [queue.queue_id, rules.display_name, rules.channel,
      `${rules.skill_match} ${requirementsText(rules.skills)}`, rules.strategy,
      `${rules.service_level_threshold_seconds} s`, overflow]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    const cell = document.createElement("td");
    cell.append(button(label("edit"), "edit-queue", () => editQueue(queue), `${label("edit")}: ${queue.queue_id}`));
    row.append(cell);
    return row;
  }));
}

function editQueue(queue, { focus = true } = {}) {
  editing = queue;
  const rules = queue?.rules;
  $("queue-id").value = queue?.queue_id || "";
  $("queue-id").readOnly = Boolean(queue);
  $("queue-name").value = rules?.display_name || "";
  $("queue-channel").value = rules?.channel || "voice";
  $("queue-skills").value = rules ? requirementsText(rules.skills) : "";
  $("queue-match").value = rules?.skill_match || "all-of";
  $("queue-strategy").value = rules?.strategy || "longest-idle";
  $("queue-threshold").value = rules?.service_level_threshold_seconds ?? 20;
  $("queue-overflow-after").value = rules?.overflow?.after_seconds ?? "";
  $("queue-overflow-queue").value = rules?.overflow?.queue_id || "";
  $("queue-form-title").textContent = queue ? label("queue-editing", queue.queue_id) : label("queue-new");
  clearRefusal("queue-error", "queue-form");
  $("queue-said").textContent = "";
  if (focus) (queue ? $("queue-name") : $("queue-id")).focus();
}

async function loadQueues(mine) {
  try {
    const listed = await api("GET", "/v1/queues");
    if (mine !== run) return;
    queues = listed;
    paintQueues();
  } catch (error) {
    if (mine === run) $("queue-error").textContent = `${label("queues")}: ${error.message}`;
  }
}

$("queue-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearRefusal("queue-error", "queue-form");
  $("queue-said").textContent = "";
  const rules = rulesFrom({
    displayName: $("queue-name").value.trim(),
    channel: $("queue-channel").value,
    skills: $("queue-skills").value,
    skillMatch: $("queue-match").value,
    strategy: $("queue-strategy").value,
    threshold: $("queue-threshold").value,
    overflowAfter: $("queue-overflow-after").value,
    overflowQueue: $("queue-overflow-queue").value.trim(),
  }, editing?.rules);
  if (!rules.skills) {
    refused("queue-error", new Error(label("requirements-format")), () => []);
    $("queue-skills").setAttribute("aria-invalid", "true");
    return;
  }
  const mine = run;
  try {
    const saved = editing
      ? await api("PUT", `/v1/queues/${encodeURIComponent(editing.queue_id)}/rules`,
        { ...rules, expected_version: editing.version })
      : await api("POST", "/v1/queues", { queue_id: $("queue-id").value.trim(), ...rules });
    if (mine !== run) return;
    queues = [...queues.filter((queue) => queue.queue_id !== saved.queue_id), saved]
      .sort((a, b) => a.queue_id.localeCompare(b.queue_id));
    paintQueues();
    editQueue(saved);
    $("queue-said").textContent = label("queue-saved", saved.queue_id);
  } catch (error) {
    if (mine === run) refused("queue-error", error, queueFields);
  }
});

$("queue-new").addEventListener("click", () => editQueue(null));

// -- lines: the IVR flow and business hours ----------------------------------------------------------

// Columns by distance from the start (breadth first); nodes no path reaches go in a last column.
export function layout(flow) {
  const byId = new Map(flow.nodes.map((node) => [node.id, node]));
  const exits = (node) => [node.next, ...Object.values(node.branches || {})].filter((id) => byId.has(id));
  const column = new Map(byId.has(flow.start) ? [[flow.start, 0]] : []);
  const queue = [...column.keys()];
  while (queue.length) {
    const id = queue.shift();
    for (const next of exits(byId.get(id))) {
      if (!column.has(next)) {
        column.set(next, column.get(id) + 1);
        queue.push(next);
      }
    }
  }
  const last = Math.max(-1, ...column.values()) + 1;
  const rows = [];
  const placed = flow.nodes.map((node) => {
    const x = column.has(node.id) ? column.get(node.id) : last;
    rows[x] = (rows[x] || 0) + 1;
    return { id: node.id, type: node.type, x, y: rows[x] - 1 };
  });
  const edges = flow.nodes.flatMap((node) => [
    ...(node.next && byId.has(node.next) ? [{ from: node.id, to: node.next, label: "" }] : []),
    ...Object.entries(node.branches || {}).filter(([, to]) => byId.has(to))
      .map(([key, to]) => ({ from: node.id, to, label: key })),
  ]);
  return { nodes: placed, edges };
}

function drawFlow(flow, faults = new Set()) {
  const { nodes, edges } = layout(flow);
  const [w, h, gapX, gapY] = [130, 36, 60, 16];
  const at = new Map(nodes.map((node) => [node.id, node]));
  const columns = Math.max(1, ...nodes.map((node) => node.x + 1));
  const rows = Math.max(1, ...nodes.map((node) => node.y + 1));
  const said = edges.map((edge) => `${edge.from} ${edge.label ? `(${edge.label}) ` : ""}→ ${edge.to}`);
  const graph = svg("svg", {
    viewBox: `0 0 ${columns * (w + gapX)} ${rows * (h + gapY)}`,
    width: columns * (w + gapX), // drawn at its own size, shrunk only to fit
    role: "img",
    "aria-label": `${label("flow-graph")}: ${label("flow-start", flow.start)}; ${said.join(", ")}`,
  });
  const place = (node) => [node.x * (w + gapX), node.y * (h + gapY)];
  for (const edge of edges) {
    const [fx, fy] = place(at.get(edge.from));
    const [tx, ty] = place(at.get(edge.to));
    graph.append(svg("line", { x1: fx + w, y1: fy + h / 2, x2: tx, y2: ty + h / 2, class: "edge" }));
    if (edge.label) graph.append(svg("text", { x: fx + w + 4, y: fy + h / 2 - 3, class: "edge-label" }, edge.label));
  }
  for (const node of nodes) {
    const [x, y] = place(node);
    const kind = `node${faults.has(node.id) ? " fault" : ""}${node.id === flow.start ? " start" : ""}`;
    const group = svg("g", { class: kind });
    group.dataset.node = node.id;
    group.append(
      svg("rect", { x, y, width: w, height: h, rx: 4 }),
      svg("text", { x: x + 6, y: y + 15, class: "node-id" }, node.id),
      svg("text", { x: x + 6, y: y + 29, class: "node-type" }, node.type),
    );
    graph.append(group);
  }
  $("flow-graph").replaceChildren(graph);
}

// The node ids a refusal's field paths name: `nodes[welcome].next` -> welcome.
export const faultyNodes = (violations) =>
  new Set(violations.map((v) => /^nodes\[([^\]]+)\]/.exec(v.field)?.[1]).filter(Boolean));

function redrawFromText() {
  try {
    drawFlow(JSON.parse($("flow-text").value));
    $("flow-text").removeAttribute("aria-invalid");
  } catch {
    $("flow-text").setAttribute("aria-invalid", "true"); // not JSON (yet): the last graph stays
  }
}

async function loadLine(lineId) {
  clearRefusal("flow-error", "flow-form");
  clearRefusal("hours-error", "hours-form");
  const mine = run;
  const load = ++lineLoads;
  const current = () => mine === run && load === lineLoads;
  try {
    const loaded = await api("GET", `/v1/lines/${encodeURIComponent(lineId)}`);
    const flow = loaded.flow_version
      ? (await api("GET", `/v1/lines/${encodeURIComponent(lineId)}/flows/0`)).flow
      : { start: "start", nodes: [{ id: "start", type: "hang-up" }] }; // a first flow to write over
    if (!current()) return;
    line = loaded;
    $("flow-text").value = JSON.stringify(flow, null, 2);
    $("flow-version").textContent = label("flow-version", loaded.flow_version);
    drawFlow(flow);
    const hours = loaded.settings.hours;
    $("hours-zone").value = hours?.time_zone || "";
    for (const day of DAYS) $(`hours-${day}`).value = hours?.weekly?.[day] || "";
    $("hours-country").value = hours?.holiday_country || "";
    $("hours-special").value = specialDaysText(hours?.special_days);
    $("line-forms").hidden = false;
    $("lines-error").textContent = "";
  } catch (error) {
    if (!current()) return;
    line = null; // nothing is saved to a line whose forms do not show it
    $("line-forms").hidden = true;
    $("lines-error").textContent = `${lineId}: ${error.message}`;
  }
}

async function loadLines(mine) {
  try {
    const lines = await api("GET", "/v1/lines");
    if (mine !== run) return;
    const picked = $("line-pick").value;
    $("line-pick").replaceChildren(
      ...lines.map((each) => new Option(each.settings.display_name || each.line_id, each.line_id, false,
        each.line_id === picked)),
    );
    if (lines.length) await loadLine($("line-pick").value);
  } catch (error) {
    if (mine === run) $("lines-error").textContent = `${label("lines")}: ${error.message}`;
  }
}

$("line-pick").addEventListener("change", () => loadLine($("line-pick").value));
$("flow-text").addEventListener("input", redrawFromText);

$("flow-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearRefusal("flow-error", "flow-form");
  $("flow-said").textContent = "";
  let flow;
  try {
    flow = JSON.parse($("flow-text").value);
  } catch (error) {
    $("flow-error").textContent = `${label("flow-not-json")}: ${error.message}`;
    $("flow-text").setAttribute("aria-invalid", "true");
    return;
  }
  const [mine, load] = [run, lineLoads];
  try {
    // Published over the version read (another admin's publish since is refused, 409); the answer is the
    // line, with its new flow version.
    const published = await api("POST", `/v1/lines/${encodeURIComponent(line.line_id)}/flows`,
      { ...flow, expected_version: line.version });
    if (mine !== run || load !== lineLoads) return;
    line = published;
    $("flow-version").textContent = label("flow-version", line.flow_version);
    $("flow-said").textContent = label("flow-published", line.flow_version);
    drawFlow(flow);
  } catch (error) {
    if (mine !== run || load !== lineLoads) return;
    refused("flow-error", error, () => ["flow-text"]);
    drawFlow(flow, faultyNodes(error.violations || []));
  }
});

// Special days, a line each: "2026-12-24 09:00-13:00" or "2026-12-31 closed" -> {date: spans}, where
// closed is no spans; null when a line is not written so.
export function parseSpecialDays(text) {
  const days = {};
  for (const line of text.split("\n").map((each) => each.trim()).filter(Boolean)) {
    const match = /^(\d{4}-\d{2}-\d{2})\s+(closed|[0-9:, -]+)$/.exec(line);
    if (!match) return null;
    days[match[1]] = match[2] === "closed" ? "" : match[2].trim();
  }
  return days;
}

const specialDaysText = (days) =>
  Object.entries(days || {}).sort().map(([date, spans]) => `${date} ${spans || "closed"}`).join("\n");

// The hours form's fields as the line's `hours` (null: always open, when no day and no zone is given).
// A subdivision (a state's own holidays) belongs to its country: kept only while the country is.
export function hoursFrom({ zone, days, country, special = {} }, before = {}) {
  const weekly = Object.fromEntries(Object.entries(days).filter(([, spans]) => spans.trim())
    .map(([day, spans]) => [day, spans.trim()]));
  const holidayCountry = country.toUpperCase();
  if (!zone && !Object.keys(weekly).length && !Object.keys(special).length && !holidayCountry) return null;
  const hours = { ...before, time_zone: zone, weekly, holiday_country: holidayCountry, special_days: special };
  if (holidayCountry !== (before.holiday_country || "")) hours.holiday_subdivision = "";
  return hours;
}

$("hours-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearRefusal("hours-error", "hours-form");
  $("hours-said").textContent = "";
  const special = parseSpecialDays($("hours-special").value);
  if (!special) {
    $("hours-error").textContent = label("special-days-format");
    $("hours-special").setAttribute("aria-invalid", "true");
    return;
  }
  const hours = hoursFrom({
    zone: $("hours-zone").value.trim(),
    days: Object.fromEntries(DAYS.map((day) => [day, $(`hours-${day}`).value])),
    country: $("hours-country").value.trim(),
    special,
  }, line.settings.hours || {});
  const [mine, load] = [run, lineLoads];
  try {
    const body = { ...line.settings, hours, expected_version: line.version };
    const saved = await api("PUT", `/v1/lines/${encodeURIComponent(line.line_id)}`, body);
    if (mine !== run || load !== lineLoads) return;
    line = saved;
    $("hours-said").textContent = label("hours-saved");
  } catch (error) {
    if (mine !== run || load !== lineLoads) return;
    refused("hours-error", error, (field) => {
      const day = DAYS.find((each) => field.includes(`[${each}]`) || field.endsWith(`.${each}`));
      if (day) return [`hours-${day}`];
      if (field.includes("time_zone")) return ["hours-zone"];
      if (field.includes("special_days")) return ["hours-special"];
      return field.includes("holiday") ? ["hours-country"] : [];
    });
  }
});

// -- API keys ----------------------------------------------------------------------------------------

function paintKeys(keys) {
  $("key-rows").replaceChildren(...keys.map((key) => {
    const row = document.createElement("tr");
    row.dataset.key = key.key_id;
    const state = key.revoked_at ? label("key-revoked", key.revoke_reason || "–") : label("key-active");
    for (const text of [key.user, key.role, key.agent_id || "–", key.description || "–", state]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    const cell = document.createElement("td");
    if (!key.revoked_at) {
      cell.append(button(label("revoke"), "revoke", () => revokeKey(key), `${label("revoke")}: ${key.user}`));
    }
    row.append(cell);
    return row;
  }));
}

async function loadKeys(mine) {
  try {
    const { keys } = await api("GET", "/v1/api-keys?include_revoked=true");
    if (mine === run) paintKeys(keys);
  } catch (error) {
    if (mine === run) $("key-error").textContent = `${label("api-keys")}: ${error.message}`;
  }
}

async function revokeKey(key) {
  $("key-error").textContent = "";
  const mine = run;
  try {
    await api("POST", `/v1/api-keys/${encodeURIComponent(key.key_id)}/revoke`,
      { reason: $("key-reason").value.trim() });
    await loadKeys(mine);
    // The row's Revoke button is gone with the repaint: the keyboard goes on from the reason's field.
    if (mine === run) $("key-reason").focus();
  } catch (error) {
    if (mine === run) $("key-error").textContent = `${key.user}: ${error.message}`;
  }
}

$("key-role").addEventListener("change", () => {
  $("key-agent").disabled = $("key-role").value !== "agent";
});

$("key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearRefusal("key-error", "key-form");
  $("key-secret").textContent = "";
  const body = { user: $("key-user").value.trim(), role: $("key-role").value, description: $("key-description").value.trim() };
  if (body.role === "agent") body.agent_id = $("key-agent").value.trim();
  const mine = run;
  try {
    const created = await api("POST", "/v1/api-keys", body);
    if (mine !== run) return; // a secret is shown only on the page that asked for it, and only then
    $("key-secret").textContent = label("key-secret", created.key.user, created.secret_key);
    await loadKeys(mine);
  } catch (error) {
    if (mine !== run) return;
    refused("key-error", error, (field) => {
      const names = { user: "key-user", role: "key-role", agent_id: "key-agent", description: "key-description" };
      return Object.entries(names).filter(([name]) => field.includes(name)).map(([, id]) => id);
    });
  }
});

// -- the page ----------------------------------------------------------------------------------------

export function startAdmin() {
  $("admin").hidden = false;
  const mine = ++run;
  $("key-secret").textContent = "";
  editQueue(editing, { focus: false });
  loadQueues(mine);
  loadLines(mine);
  loadKeys(mine);
}

export function relabelAdmin() {
  paintQueues();
  if (line) $("flow-version").textContent = label("flow-version", line.flow_version);
  $("queue-form-title").textContent = editing ? label("queue-editing", editing.queue_id) : label("queue-new");
}

// Leaving the page keeps nothing secret on it; `forget` (signing out) clears the rest too.
export function stopAdmin({ forget = false } = {}) {
  $("admin").hidden = true;
  run += 1;
  $("key-secret").textContent = ""; // a new key's secret is shown once, and only until the page is left
  if (!forget) return;
  queues = [];
  editing = null;
  line = null;
  for (const id of ["queue-rows", "key-rows", "flow-graph"]) $(id).replaceChildren();
  $("line-pick").replaceChildren();
  $("line-forms").hidden = true;
  $("lines-error").textContent = "";
}
