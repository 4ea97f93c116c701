// The wallboard: sign in (the gateway keeps the key in an HttpOnly cookie), then one tenant-wide stream
// of live queue metrics (GET /v1/metrics/stream) paints a tile per queue, coloured by service level.
// Plain modules, no build step: the page is small, and nothing is fetched from anywhere but the gateway.

const $ = (id) => document.getElementById(id);
// Service level at or above `good` is green, at or above `warn` amber, below that red.
export const SERVICE_LEVEL = { good: 80, warn: 60 };

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const error = await response.json();
      message = error.message || error.error_id || message;
    } catch {
      // not a JSON body: keep the status line
    }
    throw new Error(message);
  }
  return response.status === 204 ? null : response.json();
}

const number = (value, digits = 0) => (value === null || value === undefined ? "–" : Number(value).toFixed(digits));

export function level(serviceLevel) {
  if (serviceLevel === null || serviceLevel === undefined) return "";
  if (serviceLevel >= SERVICE_LEVEL.good) return "good";
  return serviceLevel >= SERVICE_LEVEL.warn ? "warn" : "bad";
}

function tile(queue) {
  const element = document.createElement("article");
  element.className = `tile ${level(queue.service_level_percent)}`.trim();
  element.dataset.queue = queue.queue_id;
  const title = document.createElement("h2");
  title.textContent = queue.queue_id;
  const facts = document.createElement("dl");
  const rows = [
    ["Waiting", number(queue.contacts_waiting), "waiting"],
    ["Oldest wait (s)", number(queue.oldest_wait_seconds), "oldest"],
    ["Service level (%)", number(queue.service_level_percent, 1), "service-level"],
    ["ASA (s)", number(queue.average_speed_of_answer_seconds, 1), "asa"],
    ["AHT (s)", number(queue.average_handle_time_seconds, 1), "aht"],
    ["Abandoned (%)", number(queue.abandonment_rate_percent, 1), "abandoned"],
    ["Ready / on contact / wrap-up / not ready",
      `${queue.agents_ready} / ${queue.agents_on_contact} / ${queue.agents_wrap_up} / ${queue.agents_not_ready}`,
      "agents"],
  ];
  for (const [label, value, name] of rows) {
    const term = document.createElement("dt");
    term.textContent = label;
    const detail = document.createElement("dd");
    detail.textContent = value;
    detail.dataset.fact = name;
    facts.append(term, detail);
  }
  element.append(title, facts);
  return element;
}

let stream = null;

function follow() {
  stream?.close();
  stream = new EventSource("/v1/metrics/stream");
  stream.addEventListener("tenant-metrics", (message) => {
    const { queues } = JSON.parse(message.data);
    $("tiles").replaceChildren(...queues.map(tile));
    $("stream-state").textContent = `Live: ${queues.length} queues, ${new Date().toLocaleTimeString()}`;
  });
  stream.addEventListener("error", () => {
    $("stream-state").textContent = "The live stream is interrupted; reconnecting…";
  });
}

function show(session) {
  $("sign-in").hidden = Boolean(session);
  $("wallboard").hidden = !session;
  $("sign-out").hidden = !session;
  $("who").textContent = session ? `${session.name} (${session.role}, ${session.tenant_id})` : "";
  if (session) follow();
  else stream?.close();
}

$("sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("sign-in-error").textContent = "";
  try {
    show(await api("POST", "/v1/session", { api_key: $("api-key").value }));
    $("api-key").value = "";
  } catch (error) {
    $("sign-in-error").textContent = `Sign-in failed: ${error.message}`;
  }
});

$("sign-out").addEventListener("click", async () => {
  await api("DELETE", "/v1/session").catch(() => {});
  show(null);
});

api("GET", "/v1/session").then(show, () => show(null));
