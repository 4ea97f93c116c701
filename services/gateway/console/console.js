// The console: sign in (the gateway keeps the key in an HttpOnly cookie); an agent gets its desktop
// (desk.js), anyone else the wallboard, where one tenant-wide stream of live queue metrics
// (GET /v1/metrics/stream) paints a tile per queue, coloured by service level, above today's service
// level hour by hour (service_level.js) and the agent grid; the analytics page (analytics.js), an
// analyst's first: journeys and statistics; and for admins the admin page (admin.js): queues, flows,
// hours and keys.
// Plain modules, no build step: the page is small, and nothing is fetched from anywhere but the gateway.

import { $, api, getLanguage, label, level, number, seconds, setLanguage } from "./common.js";
import { relabelAdmin, startAdmin, stopAdmin } from "./admin.js";
import { relabelAnalytics, startAnalytics, stopAnalytics } from "./analytics.js";
import { startDesk, stopDesk } from "./desk.js";
import { startServiceLevel, stopServiceLevel } from "./service_level.js";

export { label, level };

function applyLabels() {
  document.documentElement.lang = getLanguage();
  for (const element of document.querySelectorAll("[data-label]")) {
    element.textContent = label(element.dataset.label);
  }
  document.title = label($("title").dataset.label);
  $("pages").setAttribute("aria-label", label("pages"));
  $("language").lang = getLanguage() === "en" ? "ko" : "en"; // the button names the other language, in it
  paintAgents();
  if (!$("wallboard").hidden) startServiceLevel(); // the chart's description in the new language
  if (!$("analytics").hidden) relabelAnalytics();
  if (!$("admin").hidden) relabelAdmin();
}
function tile(queue) {
  const element = document.createElement("article");
  element.className = `tile ${level(queue.service_level_percent)}`.trim();
  element.dataset.queue = queue.queue_id;
  const title = document.createElement("h2");
  title.textContent = queue.queue_id;
  const facts = document.createElement("dl");
  const rows = [
    [number(queue.contacts_waiting), "waiting"],
    [number(queue.oldest_wait_seconds), "oldest"],
    [number(queue.service_level_percent, 1), "service-level"],
    [number(queue.average_speed_of_answer_seconds, 1), "asa"],
    [number(queue.average_handle_time_seconds, 1), "aht"],
    [number(queue.abandonment_rate_percent, 1), "abandoned"],
    [`${queue.agents_ready} / ${queue.agents_on_contact} / ${queue.agents_wrap_up} / ${queue.agents_not_ready}`,
      "agent-states"],
  ];
  for (const [value, name] of rows) {
    const term = document.createElement("dt");
    term.textContent = label(name);
    const detail = document.createElement("dd");
    detail.textContent = value;
    detail.dataset.fact = name;
    facts.append(term, detail);
  }
  element.append(title, facts);
  return element;
}

// The agent grid: every logged-in agent, polled (agents change state far less often than queues tick).
const AGENTS_EVERY_MS = 2000;
const CHANGES = { ready: ["not-ready", "set-not-ready"], "not-ready": ["ready", "set-ready"] };
let agents = [];
// Each queue's rules (GET /v1/queues), for the grid's queue filter; a queue only the stream knows (one a
// flow names without an admin defining it) asks for the skill of its own name.
let queueRules = new Map();
let streamQueues = [];
const QUEUES_EVERY_POLLS = 15; // queues change far less often than agents: every 30 s
let polls = 0;
let polling = null;
let wallboards = 0; // times the wallboard was left: a poll answered after that schedules no next one
let changes = 0; // PUTs made: a poll that began before the latest one may paint an older state

function agentRow(agentId) {
  const row = document.createElement("tr");
  row.dataset.agent = agentId;
  for (const name of ["name", "site", "state", "reason", "in-state", "skills"]) {
    const cell = document.createElement("td");
    cell.dataset.fact = name;
    row.append(cell);
  }
  const change = document.createElement("td");
  const button = document.createElement("button");
  button.type = "button";
  button.dataset.action = "state";
  button.addEventListener("click", () => setState(agentId, button.dataset.next));
  const edit = document.createElement("button");
  edit.type = "button";
  edit.dataset.action = "edit-skills";
  edit.addEventListener("click", () => editSkills(row, agentId));
  change.append(button, " ", edit);
  row.append(change);
  return row;
}

const skillsText = (skills) => skills.map((skill) => `${skill.name}:${skill.proficiency}`).join(", ");

// "member:5, vip:7" -> [{name, proficiency}], or null when it is not written that way.
export function parseSkills(text) {
  const skills = text.split(",").map((part) => part.trim()).filter(Boolean).map((part) => {
    const match = /^([^:\s]+)\s*:\s*(\d+)$/.exec(part);
    return match ? { name: match[1], proficiency: Number(match[2]) } : null;
  });
  return skills.length && skills.every(Boolean) ? skills : null;
}

// Editing happens in the row's skills cell; the two-second refresh leaves that cell alone meanwhile.
function editSkills(row, agentId) {
  const cell = row.querySelector('[data-fact="skills"]');
  const name = row.querySelector('[data-fact="name"]').textContent;
  const input = document.createElement("input");
  input.value = cell.textContent;
  input.setAttribute("aria-label", `${label("skills")}: ${name}`);
  const save = document.createElement("button");
  save.type = "button";
  save.textContent = label("save");
  save.setAttribute("aria-label", `${label("save-skills")}: ${name}`);
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.textContent = label("cancel");
  const done = () => {
    delete row.dataset.editing;
    paintAgents();
    row.querySelector('[data-action="edit-skills"]').focus();
  };
  save.addEventListener("click", async () => {
    const skills = parseSkills(input.value);
    if (!skills) {
      agentsError(`${name}: ${label("skills-format")}`);
      return;
    }
    changes += 1;
    try {
      const changed = await api("PUT", `/v1/agents/${encodeURIComponent(agentId)}/skills`, { skills });
      agents = agents.map((agent) => (agent.agent_id === agentId ? changed : agent));
      agentsError("");
      done();
    } catch (error) {
      agentsError(`${name}: ${error.message}`);
    }
  });
  cancel.addEventListener("click", done);
  row.dataset.editing = "skills";
  cell.replaceChildren(input, " ", save, " ", cancel);
  input.focus();
}

// Rows are kept and changed in place, never rebuilt: a button in focus, or half clicked, stays put.
function updateRow(row, agent) {
  const name = agent.display_name || agent.agent_id;
  const facts = { name, site: agent.site_id, state: agent.state, reason: agent.reason };
  facts["in-state"] = number(seconds(agent.state_since));
  if (!row.dataset.editing) facts.skills = skillsText(agent.skills);
  for (const [fact, text] of Object.entries(facts)) {
    const cell = row.querySelector(`[data-fact="${fact}"]`);
    if (cell.textContent !== text) cell.textContent = text;
  }
  // A supervisor can take a ready agent off (a break) or put a not-ready one back; contacts run their course.
  const button = row.querySelector('[data-action="state"]');
  const next = CHANGES[agent.state];
  button.hidden = !next;
  if (next) {
    button.dataset.next = next[0];
    button.textContent = label(next[1]);
    button.setAttribute("aria-label", `${label(next[1])}: ${name}`);
  }
  const edit = row.querySelector('[data-action="edit-skills"]');
  edit.textContent = label("edit-skills");
  edit.setAttribute("aria-label", `${label("edit-skills")}: ${name}`);
  const site = $("site-filter").value;
  const queue = $("queue-filter").value;
  row.hidden = Boolean(site && agent.site_id !== site) ||
    Boolean(queue && !eligible(agent, queueRules.get(queue) || { skills: [{ skill: queue, min_proficiency: 0 }] }));
}

// Whether a queue's rules let the agent take its contacts, before any expanding step widens them: its
// site, and its required skills at their minimum proficiency (all of them, or any one).
export function eligible(agent, rules) {
  if (rules.sites?.length && !rules.sites.includes(agent.site_id)) return false;
  const has = (need) => agent.skills.some((s) => s.name === need.skill && s.proficiency >= need.min_proficiency);
  return rules.skill_match === "any-of" ? rules.skills.some(has) : rules.skills.every(has);
}

// A filter's options, rebuilt only when they change (a rebuilt select loses its focus and its choice).
function fillFilter(filter, values, all) {
  const wanted = ["", ...values];
  const shown = [...filter.options].map((option) => option.value);
  if (wanted.join("\n") !== shown.join("\n") || filter.options[0]?.text !== all) {
    const picked = filter.value;
    filter.replaceChildren(...wanted.map((value) => new Option(value || all, value, false, value === picked)));
  }
}

function paintAgents() {
  fillFilter($("site-filter"), [...new Set(agents.map((agent) => agent.site_id))].sort(), label("all-sites"));
  const queueIds = new Set([...queueRules.keys(), ...streamQueues]);
  fillFilter($("queue-filter"), [...queueIds].sort(), label("all-queues"));
  const body = $("agents");
  const rows = new Map([...body.rows].map((row) => [row.dataset.agent, row]));
  for (const agent of [...agents].sort((a, b) => a.agent_id.localeCompare(b.agent_id))) {
    let row = rows.get(agent.agent_id);
    rows.delete(agent.agent_id);
    if (!row) {
      row = agentRow(agent.agent_id);
      body.append(row);
    }
    updateRow(row, agent);
  }
  for (const gone of rows.values()) gone.remove();
}

function agentsError(text) {
  if ($("agents-error").textContent !== text) $("agents-error").textContent = text;
}

async function pollAgents(run = wallboards) {
  const began = changes;
  try {
    if (polls++ % QUEUES_EVERY_POLLS === 0) {
      queueRules = new Map((await api("GET", "/v1/queues")).map((queue) => [queue.queue_id, queue.rules]));
    }
    const listed = await api("GET", "/v1/agents");
    if (run !== wallboards) return; // the page was left (or signed out) meanwhile: nothing to paint
    if (began === changes) {
      agents = listed;
      paintAgents();
    }
    agentsError("");
  } catch (error) {
    if (run !== wallboards) return;
    agentsError(`${label("agents")}: ${error.message}`);
  }
  // The next only once this one is done, and only while the wallboard is still the one it polled for.
  if (run === wallboards) polling = setTimeout(() => pollAgents(run), AGENTS_EVERY_MS);
}

async function setState(agentId, state) {
  changes += 1;
  agentsError("");
  try {
    const body = state === "not-ready" ? { state, reason: "supervisor" } : { state };
    const changed = await api("PUT", `/v1/agents/${encodeURIComponent(agentId)}/state`, body);
    agents = agents.map((agent) => (agent.agent_id === agentId ? changed : agent));
    paintAgents();
  } catch (error) {
    agentsError(`${agentId}: ${error.message}`);
  }
}

$("site-filter").addEventListener("change", paintAgents);
$("queue-filter").addEventListener("change", paintAgents);

let stream = null;
let reconnecting = null; // the stream's next attempt after it was refused for good
let said = ""; // what the status line last announced: it speaks when that changes, not every second

function status(text) {
  if (text !== said) {
    said = text;
    $("stream-state").textContent = text;
  }
}

function follow() {
  stream?.close();
  stream = new EventSource("/v1/metrics/stream");
  stream.addEventListener("tenant-metrics", (message) => {
    const { queues } = JSON.parse(message.data);
    $("tiles").replaceChildren(...queues.map(tile));
    streamQueues = queues.map((queue) => queue.queue_id);
    status(label("live", queues.length));
    $("updated").textContent = new Date().toLocaleTimeString(getLanguage());
  });
  stream.addEventListener("error", () => {
    status(label("interrupted"));
    if (stream.readyState === EventSource.CLOSED) {
      // Refused for good (a revoked key, a session gone): say so rather than wait for nothing.
      const run = wallboards;
      api("GET", "/v1/session").then(
        () => {
          if (run === wallboards) reconnecting = setTimeout(follow, AGENTS_EVERY_MS);
        },
        () => show(null),
      );
    }
  });
}

// The page a signed-in supervisor, admin or analyst is on; the header's buttons switch it.
function showPage(page) {
  for (const button of document.querySelectorAll("#pages button")) {
    if (button.dataset.page === page) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  stopWallboard();
  stopAnalytics();
  stopAdmin();
  $("title").dataset.label = page === "wallboard" ? "title" : page;
  $("title").textContent = label($("title").dataset.label);
  document.title = $("title").textContent;
  if (page === "analytics") {
    startAnalytics();
  } else if (page === "admin") {
    startAdmin();
  } else {
    $("wallboard").hidden = false;
    follow();
    pollAgents();
    startServiceLevel();
  }
  $("title").focus();
}

function stopWallboard() {
  $("wallboard").hidden = true;
  wallboards += 1;
  stream?.close();
  clearTimeout(reconnecting);
  clearTimeout(polling);
  stopServiceLevel();
}

function show(session) {
  // An agent's key gets the agent desktop; supervisors and admins the wallboard, analysts the analytics.
  const desk = Boolean(session?.agent_id);
  $("sign-in").hidden = Boolean(session);
  $("pages").hidden = !session || desk;
  $("pages").querySelector('[data-page="admin"]').hidden = session?.role !== "admin";
  $("sign-out").hidden = !session;
  $("who").textContent = session ? `${session.name} (${session.role}, ${session.tenant_id})` : "";
  stopWallboard();
  stopAnalytics();
  stopAdmin();
  stopDesk();
  if (session && desk) {
    $("title").dataset.label = "desk";
    $("title").textContent = label("desk");
    document.title = $("title").textContent;
    startDesk(session);
    $("title").focus();
  } else if (session) {
    showPage(session.role === "analyst" ? "analytics" : "wallboard");
  } else {
    // Nothing of the last session stays in the page for the next one to see.
    stopAnalytics({ forget: true });
    stopAdmin({ forget: true });
    $("title").dataset.label = "title";
    $("title").textContent = label("title");
    document.title = $("title").textContent;
    agents = [];
    queueRules = new Map();
    streamQueues = [];
    polls = 0;
    said = "";
    $("tiles").replaceChildren();
    $("agents").replaceChildren();
    $("stream-state").textContent = "";
    $("updated").textContent = "";
    $("api-key").focus();
  }
}

for (const button of document.querySelectorAll("#pages button")) {
  button.addEventListener("click", () => showPage(button.dataset.page));
}

$("sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("sign-in-error").textContent = "";
  try {
    show(await api("POST", "/v1/session", { api_key: $("api-key").value }));
    $("api-key").value = "";
  } catch (error) {
    $("sign-in-error").textContent = `${label("sign-in-failed")}: ${error.message}`;
  }
});

$("sign-out").addEventListener("click", async () => {
  await api("DELETE", "/v1/session").catch(() => {});
  show(null);
});

$("language").addEventListener("click", () => {
  setLanguage(getLanguage() === "en" ? "ko" : "en");
  applyLabels();
});

applyLabels();
api("GET", "/v1/session").then(show, () => show(null));
