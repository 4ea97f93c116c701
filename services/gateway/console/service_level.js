// The wallboard's service level over today, hour by hour: the call statistics of today so far
// (GET /v1/statistics/calls, bucket=hour, in the browser's time zone, the inbound calls' service level),
// drawn as a bar per hour and coloured as the tiles are. An hour is history once it is over, so the
// chart asks again once a minute, not once a second as the live tiles do.

import { $, api, getLanguage, label, level, number, svg } from "./common.js";

const EVERY_MS = 60_000;
const HOURS = 24;
const SLOT = 24; // px per hour in the chart's own units
const HEIGHT = 100; // px for 100 %

let timer = null;
let generation = 0; // a poll that answers after the chart was stopped paints nothing

// The bars of the statistics' rows: the hour of the day each starts at (local time), its service
// level and its tile colour; hours without a measured level (no calls answered or abandoned) have none.
export function bars(rows) {
  return rows
    .filter((row) => row.bucket_start && row.service_level_percent !== null)
    .map((row) => ({
      hour: new Date(row.bucket_start).getHours(),
      serviceLevel: row.service_level_percent,
      level: level(row.service_level_percent),
    }))
    .sort((a, b) => a.hour - b.hour);
}

export function startServiceLevel() {
  stopServiceLevel();
  poll(generation);
}

export function stopServiceLevel() {
  generation += 1;
  clearTimeout(timer);
  $("service-level-chart").replaceChildren();
  $("service-level-error").textContent = "";
}

async function poll(mine) {
  const now = new Date();
  const midnight = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const query = new URLSearchParams({
    from: midnight.toISOString(),
    to: now.toISOString(),
    bucket: "hour",
    time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone,
  });
  try {
    const statistics = await api("GET", `/v1/statistics/calls?${query}`);
    if (mine !== generation) return;
    paint(bars(statistics.rows), statistics.service_level_threshold_seconds);
    $("service-level-error").textContent = "";
  } catch (error) {
    if (mine !== generation) return;
    $("service-level-error").textContent = `${label("service-level-today")}: ${error.message}`;
  }
  timer = setTimeout(() => poll(mine), EVERY_MS);
}

function paint(measured, threshold) {
  const hour = (h) => `${String(h).padStart(2, "0")}:00`;
  const said = measured.map((bar) => `${hour(bar.hour)} ${number(bar.serviceLevel, 1)} %`);
  const chart = svg("svg", {
    viewBox: `0 0 ${HOURS * SLOT} ${HEIGHT + 16}`,
    role: "img",
    "aria-label": `${label("service-level-today")} (${label("answered-within", threshold)}): ${said.join(", ") || "–"}`,
  });
  for (let h = 0; h < HOURS; h += 6) chart.append(svg("text", { x: h * SLOT + 2, y: HEIGHT + 14 }, hour(h)));
  for (const bar of measured) {
    const height = Math.max(1, (Math.min(bar.serviceLevel, 100) / 100) * HEIGHT);
    const kind = `bar ${bar.level}`.trim();
    const rect = svg("rect", { x: bar.hour * SLOT + 2, y: HEIGHT - height, width: SLOT - 4, height, class: kind });
    rect.dataset.hour = bar.hour;
    rect.dataset.serviceLevel = number(bar.serviceLevel, 1);
    rect.append(svg("title", {}, `${hour(bar.hour)}: ${number(bar.serviceLevel, 1)} %`));
    chart.append(rect);
  }
  $("service-level-chart").replaceChildren(chart);
  $("service-level-chart").lang = getLanguage();
}
