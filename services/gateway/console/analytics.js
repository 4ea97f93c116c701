// The analyst's page: a customer's journey as a timeline (found by phone, email, member id, or by a
// customer, contact or ticket id), with every event's payload; and the call or ticket statistics of a
// period, in buckets of the browser's time zone, as a chart and a table, with the same table as a file
// (CSV or Parquet) one link away. Everything comes from ClickHouse through the gateway's API.

import { $, api, getLanguage, label, number, svg } from "./common.js";

const BY = {
  calls: ["", "queue", "agent", "site", "line", "direction"],
  tickets: ["", "channel", "category", "agent", "group", "status", "kind", "claim"],
};
// Each table's columns after the bucket and the key; the first is what the chart draws.
const COLUMNS = {
  calls: [
    ["offered", 0], ["answered", 0], ["abandoned", 0], ["handled", 0], ["service_level_percent", 1],
    ["average_speed_of_answer_seconds", 1], ["average_handle_time_seconds", 1], ["held", 0],
    ["average_hold_time_seconds", 1],
  ],
  tickets: [
    ["created", 0], ["solved", 0], ["reopened", 0], ["escalated", 0], ["replied", 0], ["sla_breached", 0],
    ["average_first_response_seconds", 0], ["average_resolution_seconds", 0], ["rated", 0],
    ["satisfaction_percent", 1],
  ],
};
const timeZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;
let shown = null; // the statistics on the page, repainted when the language changes
// An answer that comes after a newer question of the same form (or after the page was left) paints
// nothing; each form counts its own, so asking one never drops the other's answer.
let journeysAsked = 0;
let statisticsAsked = 0;

// -- the journey -------------------------------------------------------------------------------------

// Where a journey is read for what the analyst typed: a customer's identifier is looked up first.
export async function journeyOf(by, value) {
  const id = encodeURIComponent(value);
  if (by === "contact") return api("GET", `/v1/contacts/${id}/journey`);
  if (by === "ticket") return api("GET", `/v1/tickets/${id}/journey`);
  let customerId = value;
  if (by !== "customer") {
    const query = new URLSearchParams({ kind: by, value });
    const { customers } = await api("GET", `/v1/customers?${query}`);
    if (!customers.length) throw new Error(label("no-customer", value));
    customerId = customers[0].customer_id;
  }
  return api("GET", `/v1/customers/${encodeURIComponent(customerId)}/journey`);
}

function eventItem(event) {
  const item = document.createElement("li");
  item.dataset.eventType = event.event_type;
  const when = document.createElement("time");
  when.dateTime = event.occurred_at || "";
  when.textContent = event.occurred_at ? new Date(event.occurred_at).toLocaleString(getLanguage()) : "–";
  const what = document.createElement("strong");
  what.textContent = event.event_type;
  const of = document.createElement("span");
  of.textContent = `${event.aggregate_type} ${event.aggregate_id} v${event.aggregate_version}` +
    (event.actor ? ` · ${event.actor}` : "");
  const payload = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = label("payload");
  const body = document.createElement("pre");
  try {
    body.textContent = JSON.stringify(JSON.parse(event.payload), null, 2);
  } catch {
    body.textContent = event.payload; // shown as stored
  }
  payload.append(summary, body);
  item.append(when, " ", what, " ", of, payload);
  return item;
}

$("journey-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const mine = ++journeysAsked;
  $("journey-error").textContent = "";
  try {
    const journey = await journeyOf($("journey-by").value, $("journey-value").value.trim());
    if (mine !== journeysAsked) return;
    $("journey").replaceChildren(...journey.events.map(eventItem));
    $("journey-summary").textContent = label("journey-of", journey.customer_id || "–", journey.events.length);
  } catch (error) {
    if (mine !== journeysAsked) return;
    $("journey").replaceChildren();
    $("journey-summary").textContent = "";
    $("journey-error").textContent = `${label("journey")}: ${error.message}`;
  }
});

// -- the statistics ----------------------------------------------------------------------------------

// yyyy-mm-dd of a local day, as a date input holds it.
const day = (date) =>
  `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, "0")}-${String(date.getDate()).padStart(2, "0")}`;

// The query of the picked period: from the first day's local midnight to the midnight after the last.
export function statisticsQuery({ from, to, bucket, by }, zone = timeZone()) {
  const [fy, fm, fd] = from.split("-").map(Number);
  const [ty, tm, td] = to.split("-").map(Number);
  const query = new URLSearchParams({
    from: new Date(fy, fm - 1, fd).toISOString(),
    to: new Date(ty, tm - 1, td + 1).toISOString(),
    time_zone: zone,
  });
  if (bucket) query.set("bucket", bucket);
  if (by) query.set("by", by);
  return query;
}

// How a bucket's start reads for its size, in local time.
export function bucketText(start, bucket) {
  if (!start) return label("whole-period");
  const date = new Date(start);
  if (bucket === "hour") return `${day(date)} ${String(date.getHours()).padStart(2, "0")}:00`;
  if (bucket === "month") return day(date).slice(0, 7);
  return day(date);
}

// The chart's bars: the first column summed over the keys of each bucket, in time order.
export function totals(rows, column) {
  const sums = new Map();
  for (const row of rows) {
    const at = row.bucket_start || "";
    sums.set(at, (sums.get(at) || 0) + (row[column] || 0));
  }
  return [...sums.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([start, total]) => ({ start, total }));
}

function fillBy() {
  const of = $("statistics-of").value;
  const picked = $("statistics-by").value;
  $("statistics-by").replaceChildren(
    ...BY[of].map((by) => new Option(label(by ? `by-${by}` : "by-nothing"), by, false, by === picked)),
  );
}

function paintStatistics() {
  if (!shown) return;
  const { of, bucket, rows } = shown;
  const columns = COLUMNS[of];
  const head = document.createElement("tr");
  for (const name of ["bucket", "key", ...columns.map(([column]) => column)]) {
    const cell = document.createElement("th");
    cell.scope = "col";
    cell.textContent = label(`column-${name}`);
    head.append(cell);
  }
  $("statistics-head").replaceChildren(head);
  $("statistics-rows").replaceChildren(...rows.map((row) => {
    const line = document.createElement("tr");
    const texts = [bucketText(row.bucket_start, bucket), row.key || "–",
      ...columns.map(([column, digits]) => number(row[column], digits))];
    for (const text of texts) {
      const cell = document.createElement("td");
      cell.textContent = text;
      line.append(cell);
    }
    return line;
  }));
  paintChart(totals(rows, columns[0][0]), columns[0][0], bucket);
}

// A bucket's label under its bar: the part of its start that changes from one bar to the next.
const short = (text, bucket) => (bucket === "hour" ? text.slice(-5) : bucket === "month" ? text : text.slice(5));

function paintChart(bars, column, bucket) {
  const [slot, height, below] = [40, 100, 14];
  const highest = Math.max(1, ...bars.map((bar) => bar.total));
  const width = Math.max(1, bars.length) * slot;
  const said = bars.map((bar) => `${bucketText(bar.start, bucket)} ${bar.total}`);
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height + below}`,
    width, // its own size, shrunk only to fit: one bar stays a bar
    role: "img",
    "aria-label": `${label(`column-${column}`)}: ${said.join(", ") || "–"}`,
  });
  bars.forEach((bar, n) => {
    const tall = Math.max(1, (bar.total / highest) * height);
    const rect = svg("rect", { x: n * slot + 5, y: height - tall, width: slot - 10, height: tall, class: "bar" });
    rect.dataset.total = bar.total;
    rect.append(svg("title", {}, `${bucketText(bar.start, bucket)}: ${bar.total}`));
    const under = bar.start ? short(bucketText(bar.start, bucket), bucket) : "";
    chart.append(rect, svg("text", { x: n * slot + slot / 2, y: height + below - 2, "text-anchor": "middle" }, under));
  });
  $("statistics-chart").replaceChildren(chart);
}

$("statistics-of").addEventListener("change", fillBy);

$("statistics-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const mine = ++statisticsAsked;
  const of = $("statistics-of").value;
  const picked = {
    from: $("statistics-from").value,
    to: $("statistics-to").value,
    bucket: $("statistics-bucket").value,
    by: $("statistics-by").value,
  };
  $("statistics-error").textContent = "";
  if (picked.to < picked.from) {
    $("statistics-error").textContent = label("period-backwards");
    return;
  }
  const query = statisticsQuery(picked);
  try {
    const statistics = await api("GET", `/v1/statistics/${of}?${query}`);
    if (mine !== statisticsAsked) return;
    shown = { of, bucket: picked.bucket, rows: statistics.rows };
    paintStatistics();
    for (const format of ["csv", "parquet"]) {
      const link = $(`export-${format}`);
      link.href = `/v1/exports/statistics/${of}?${query}&format=${format}`;
      link.hidden = false;
    }
  } catch (error) {
    if (mine !== statisticsAsked) return;
    $("statistics-error").textContent = `${label("statistics")}: ${error.message}`;
  }
});

export function startAnalytics() {
  $("analytics").hidden = false;
  if (!$("statistics-from").value) { // the last seven days, today included
    const today = new Date();
    $("statistics-from").value = day(new Date(today.getFullYear(), today.getMonth(), today.getDate() - 6));
    $("statistics-to").value = day(today);
  }
  relabelAnalytics();
}

// The parts the scripts wrote, in the language now chosen.
export function relabelAnalytics() {
  fillBy();
  paintStatistics();
}

// Leaving the page keeps what it shows; `forget` (signing out) clears it for the next session.
export function stopAnalytics({ forget = false } = {}) {
  $("analytics").hidden = true;
  journeysAsked += 1; // an answer still to come paints nothing
  statisticsAsked += 1;
  if (!forget) return;
  shown = null;
  for (const id of ["journey", "statistics-head", "statistics-rows", "statistics-chart"]) $(id).replaceChildren();
  for (const id of ["journey-summary", "journey-error", "statistics-error"]) $(id).textContent = "";
  for (const format of ["csv", "parquet"]) $(`export-${format}`).hidden = true;
  $("journey-value").value = "";
}
