// The agent desktop: the agent's own state (log in, ready, not ready with a reason, log out), the call
// offered to it with the caller's profile and latest tickets (the screen pop, TEL-2), the call's controls
// (answer, reject, hold, resume, transfer to a queue, hang up), and after the call its wrap-up countdown
// and the call's ticket (category, a note, a canned reply, the status). The agent is polled once a second:
// a call rings for CC_RING_TIMEOUT_SECONDS (15 by default), so an offer shows well within it. While the
// agent is logged in, the desk tells routing it is alive (RT-9) three times per presence timeout, so
// closing the desk takes a ready agent out of routing (`lost-presence`) instead of leaving calls to ring.

import { $, api, button, label, number, seconds } from "./common.js";

const POLL_MS = 1000;
export const NOT_READY_REASONS = ["break", "lunch", "meeting", "training"];
let me = ""; // the agent the session's key acts as
let timer = null;
let agent = null; // GET /v1/agents/{me}; null while logged out
let pop = null; // the screen pop of the call the agent is on: {call, customer, tickets}
let ticket = null; // the last call's ticket, kept in view until the agent saves or closes it
let ticketCall = ""; // the call whose ticket the desk shows (or showed)
let lastCall = null; // {call, since}: the call the agent last talked on, whose ticket is looked for
let templates = [];
let acting = 0; // actions under way: a poll that began before one may paint an older state
let beatDue = 0; // when the next heartbeat is due (ms since the epoch); 0: at the next poll

const path = (...parts) => parts.map(encodeURIComponent).join("/");

// Seconds of wrap-up left, as the desk counts down: null outside wrap-up.
export function wrapUpLeft(agentView, now = Date.now()) {
  if (!agentView || agentView.state !== "wrap-up" || !agentView.wrap_up_seconds) return null;
  return Math.max(0, agentView.wrap_up_seconds - seconds(agentView.state_since, now));
}

export function startDesk(session) {
  me = session.agent_id;
  $("desk").hidden = false;
  kick();
}

export function stopDesk() {
  generation += 1;
  again = false;
  clearTimeout(timer);
  timer = null;
  me = "";
  agent = pop = ticket = lastCall = null;
  ticketCall = "";
  beatDue = 0;
  templates = [];
  $("desk").hidden = true;
  for (const id of ["desk-state", "desk-call", "desk-error", "ticket-said"]) $(id).textContent = "";
  $("desk-ticket").hidden = true;
}

function say(text) {
  if ($("desk-error").textContent !== text) $("desk-error").textContent = text;
}

// One poll at a time: an action asks for the next one at once (kick), never for a second loop.
let polling = false;
let again = false;
let generation = 0; // a new session's polls never paint what an earlier session's asked

function kick() {
  clearTimeout(timer);
  if (polling) again = true;
  else poll();
}

async function poll() {
  polling = true;
  again = false;
  const began = acting;
  const session = generation;
  try {
    const seen = await orNull(api("GET", `/v1/agents/${path(me)}`)); // null: never logged in
    const live = seen && seen.state !== "logged-out";
    const [call] = await Promise.all([
      live ? orNull(api("GET", `/v1/agents/${path(me, "call")}`)) : null,
      live ? heartbeat() : null,
    ]);
    const popped = call ? await screenPop(call) : null;
    if (session !== generation) return;
    if (began === acting) {
      agent = seen;
      pop = popped;
      if (call && call.status === "connected") lastCall = { call, since: Date.now() };
      await followTicket();
      paint();
    }
    if (began === acting) say("");
  } catch (error) {
    if (session === generation) say(error.message);
  } finally {
    polling = false;
    if (me) timer = setTimeout(poll, again ? 0 : POLL_MS); // (a new session's first, if it began meanwhile)
  }
}

// The desk is alive (POST /v1/agents/{me}/heartbeat), when due: three times per presence timeout, which
// the answer names. A 409 is the agent logged out meanwhile (the next poll sees it), not a failure.
async function heartbeat() {
  if (Date.now() < beatDue) return;
  try {
    const alive = await api("POST", `/v1/agents/${path(me, "heartbeat")}`);
    beatDue = Date.now() + Math.max(500, (alive.timeout_seconds * 1000) / 3);
  } catch (error) {
    if (error.status !== 409) throw error;
  }
}

// A 404 is an answer here (no such agent yet, no call now), not a failure.
async function orNull(request) {
  try {
    return await request;
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}

// The caller's profile and tickets once per call (they do not change while it rings), the call each time.
async function screenPop(call) {
  if (pop && pop.call.call_id === call.call_id) return { ...pop, call };
  return { ...(await api("GET", `/v1/calls/${path(call.call_id, "screen-pop")}`)), call };
}

// A call answered opens a ticket a moment later (ticketing's policy). The desk looks for the last call's
// ticket for a while after it, however short the call was, and keeps it in view through wrap-up until
// the agent saves or closes it.
const TICKET_SEARCH_MS = 30000;

async function followTicket() {
  if (!lastCall || lastCall.call.call_id === ticketCall || Date.now() - lastCall.since > TICKET_SEARCH_MS) return;
  const { call } = lastCall;
  const query = new URLSearchParams({ assignee: me, limit: "20" });
  if (call.customer_id) query.set("customer_id", call.customer_id);
  const found = (await api("GET", `/v1/tickets?${query}`)).tickets.find((item) => item.call_id === call.call_id);
  if (!found) return;
  ticketCall = call.call_id;
  ticket = found;
  const listed = await api("GET", `/v1/reply-templates?category=${encodeURIComponent(found.category || "")}`);
  templates = listed.templates;
  paintTicket(true);
}

async function act(work) {
  acting += 1;
  say("");
  try {
    await work();
  } catch (error) {
    say(error.message);
  }
  kick();
}

function paint() {
  paintState();
  paintCall();
}

function paintState() {
  const state = agent ? agent.state : "logged-out";
  const facts = [label("state-" + state) || state];
  if (agent?.reason) facts.push(agent.reason);
  const inState = seconds(agent?.state_since);
  if (agent && inState !== null) facts.push(label("for-seconds", number(inState)));
  const left = wrapUpLeft(agent);
  if (left !== null) facts.push(label("wrap-up-left", number(left)));
  const text = facts.join(" · ");
  if ($("desk-state").textContent !== text) $("desk-state").textContent = text;

  const controls = $("desk-controls");
  const wanted = state === "logged-out" ? "in" : `${state}`;
  if (controls.dataset.for === wanted && controls.dataset.language === document.documentElement.lang) return;
  controls.dataset.for = wanted;
  controls.dataset.language = document.documentElement.lang;
  const parts = [];
  if (state === "logged-out") {
    parts.push(button(label("log-in"), "log-in", () => act(() => api("POST", `/v1/agents/${path(me)}/login`, {}))));
  }
  if (state === "not-ready") {
    parts.push(button(label("set-ready"), "ready", () => act(() => setState({ state: "ready" }))));
  }
  if (state === "ready") {
    const reason = document.createElement("select");
    reason.id = "not-ready-reason";
    reason.setAttribute("aria-label", label("reason"));
    reason.append(...NOT_READY_REASONS.map((name) => new Option(label("reason-" + name), name)));
    parts.push(reason, button(label("set-not-ready"), "not-ready", () =>
      act(() => setState({ state: "not-ready", reason: reason.value }))));
  }
  if (state === "ready" || state === "not-ready") {
    parts.push(button(label("log-out"), "log-out", () => act(() => api("POST", `/v1/agents/${path(me)}/logout`))));
  }
  controls.replaceChildren(...parts);
}

const setState = (body) => api("PUT", `/v1/agents/${path(me)}/state`, body);

function paintCall() {
  const call = pop?.call;
  const section = $("desk-call");
  const mine = call && call.agent_id === me && (call.status === "ringing" || call.status === "connected");
  const consult = call?.consult;
  const consulting = consult ? `${consult.number}:${consult.agent_id}:${consult.joined}:${consult.conference}` : "";
  const key = mine ? `${call.call_id}:${call.status}:${call.on_hold}:${consulting}:${document.documentElement.lang}` : "";
  if (section.dataset.for === key) return; // unchanged: leave a half-typed transfer alone
  section.dataset.for = key;
  if (!mine) {
    section.replaceChildren();
    return;
  }
  const heading = document.createElement("h2");
  heading.textContent = label(call.status === "ringing" ? "incoming-call" : "on-call");
  const caller = document.createElement("p");
  caller.dataset.fact = "caller";
  const customer = pop.customer;
  const name = customer?.name || label("unknown-caller");
  caller.textContent = `${name} · ${call.ani}${customer?.vip ? " · VIP" : ""}${call.queue_id ? " · " + call.queue_id : ""}`;
  const tickets = document.createElement("ul");
  tickets.setAttribute("aria-label", label("recent-tickets"));
  for (const item of pop.tickets || []) {
    const row = document.createElement("li");
    row.textContent = `#${item.number || "–"} ${item.subject} (${item.status})`;
    tickets.append(row);
  }
  if (!tickets.children.length) {
    const none = document.createElement("li");
    none.textContent = label("no-tickets");
    tickets.append(none);
  }
  const controls = document.createElement("p");
  const on = (action) => () => act(() => api("POST", `/v1/calls/${path(call.call_id, action)}`, { agent_id: me }));
  if (call.status === "ringing") {
    controls.append(button(label("answer"), "answer", on("answer")), " ", button(label("reject"), "reject", on("reject")));
  } else if (consult) {
    controls.append(...consultControls(call));
  } else {
    const hold = call.on_hold ? button(label("resume"), "resume", on("resume")) : button(label("hold"), "hold", on("hold"));
    const queue = document.createElement("input");
    queue.id = "transfer-queue";
    queue.setAttribute("aria-label", label("transfer-queue"));
    queue.maxLength = 200;
    const transfer = button(label("transfer"), "transfer", () => {
      if (!queue.value.trim()) return say(label("transfer-queue-needed"));
      return act(() => api("POST", `/v1/calls/${path(call.call_id, "transfer")}`,
        { agent_id: me, target: "queue", to: queue.value.trim() }));
    });
    const hangUp = button(label("hang-up"), "hang-up", () =>
      act(() => api("POST", `/v1/calls/${path(call.call_id, "hangup")}`, { party: "agent" })));
    // A consultation with another agent, an outside number or a queue's next free agent: the agent says
    // which, since an agent's id may be all digits and a number may be written with spaces.
    const kind = document.createElement("select");
    kind.id = "consult-kind";
    kind.setAttribute("aria-label", label("consult-kind"));
    kind.append(...Object.keys(CONSULT_FIELDS).map((name) => new Option(label(`consult-${name}`), name)));
    const party = document.createElement("input");
    party.id = "consult-party";
    party.setAttribute("aria-label", label("consult-party"));
    party.maxLength = 200;
    const consultButton = button(label("consult"), "consult", () => {
      const who = party.value.trim();
      if (!who) return say(label("consult-party-needed"));
      const body = { agent_id: me, [CONSULT_FIELDS[kind.value]]: who };
      return act(() => api("POST", `/v1/calls/${path(call.call_id, "consult")}`, body));
    });
    controls.append(hold, " ", queue, " ", transfer, " ", kind, " ", party, " ", consultButton, " ", hangUp);
  }
  // A click that changed the call (hold, consult...) removed the button it was on: the keyboard goes on
  // from the first control of the call as it is now, unless the agent is busy elsewhere (the ticket).
  const lost = section.contains(document.activeElement) || document.activeElement === document.body;
  section.replaceChildren(heading, caller, tickets, controls);
  if (call.status === "ringing") section.querySelector('[data-action="answer"]').focus();
  else if (lost) controls.querySelector("button, select, input")?.focus();
}

// What each kind of consulted party is called in POST /v1/calls/{call_id}/consult.
const CONSULT_FIELDS = { agent: "consulted_agent_id", number: "number", queue: "queue_id" };

// While the agent consults: who, whether they are on the line, and what the agent can do next (TEL-1):
// bring the caller in (a conference), hand the call over, or go back to the caller. In a conference the
// agent may only leave, which leaves the other two talking.
function consultControls(call) {
  const { consult } = call;
  const party = consult.agent_id || consult.number;
  const facts = document.createElement("span");
  facts.dataset.fact = "consultation";
  const end = (action) => button(label(`consult-${action}`), `consult-${action}`, () =>
    act(() => api("POST", `/v1/calls/${path(call.call_id, "consult", action)}`, { agent_id: me })));
  if (consult.conference) {
    facts.textContent = label("in-conference", party);
    const leave = button(label("leave-conference"), "hang-up", () =>
      act(() => api("POST", `/v1/calls/${path(call.call_id, "hangup")}`, { party: "agent" })));
    return [facts, " ", leave];
  }
  const joined = consult.joined || !consult.agent_id; // an outside number is on the line once dialled
  facts.textContent = label(joined ? "consulting" : "consulting-waiting", party);
  return [facts, " ", ...(joined ? [end("conference"), " ", end("transfer"), " "] : []), end("cancel")];
}

// The call's ticket: filled in once when it is found, then left to the agent.
function paintTicket(fresh) {
  const form = $("desk-ticket");
  form.hidden = !ticket;
  if (!ticket || !fresh) return;
  $("ticket-title").textContent = label("ticket-of-call", ticket.number || "–", ticket.subject);
  $("ticket-category").value = ticket.category || "";
  $("ticket-note").value = "";
  $("ticket-status").value = "";
  $("ticket-said").textContent = "";
  const chosen = $("ticket-reply");
  chosen.replaceChildren(new Option(label("no-reply"), ""),
    ...templates.map((template) => new Option(template.title, template.template_id)));
}

$("desk-ticket").addEventListener("submit", (event) => {
  event.preventDefault();
  const id = ticket?.ticket_id;
  if (!id) return;
  const category = $("ticket-category").value.trim();
  const note = $("ticket-note").value.trim();
  const status = $("ticket-status").value;
  const reply = $("ticket-reply").value;
  act(async () => {
    // Each part is its own request, in the order a help desk would take them; the first refusal stops.
    if (category !== (ticket.category || "")) await api("PATCH", `/v1/tickets/${path(id)}`, { category });
    if (note) await api("POST", `/v1/tickets/${path(id, "notes")}`, { body: note });
    if (reply) await api("POST", `/v1/tickets/${path(id, "replies")}`, { template_id: reply });
    if (status) await api("POST", `/v1/tickets/${path(id, "transitions")}`, { to: status });
    ticket = { ...ticket, category };
    $("ticket-note").value = "";
    $("ticket-said").textContent = label("ticket-saved");
  });
});

$("ticket-close").addEventListener("click", () => {
  ticket = null;
  paintTicket(false);
});
