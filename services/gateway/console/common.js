// What every page of the console shares: its labels in the chosen language, calls to the API that
// turn a refusal into an Error carrying the API's own message (and the HTTP status, for those that
// expect one, and the fields it names), and the service level's colours.

import { LABELS } from "./labels.js";

export const $ = (id) => document.getElementById(id);

// An SVG element (the charts and the flow graph) with its attributes, and its text when given (a
// <text>, a <title>).
export function svg(tag, attributes = {}, content = null) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (content !== null) element.textContent = content;
  return element;
}

// A button that does `onClick`; `action` names it for scripts and tests, `name` for screen readers.
export function button(text, action, onClick, name = null) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = text;
  element.dataset.action = action;
  if (name) element.setAttribute("aria-label", name);
  element.addEventListener("click", onClick);
  return element;
}
const LANGUAGE_KEY = "cc-console-language"; // a preference, not a secret: local storage is fine for it
let language = localStorage.getItem(LANGUAGE_KEY) === "ko" ? "ko" : "en";

export const getLanguage = () => language;

export function setLanguage(chosen) {
  language = chosen;
  localStorage.setItem(LANGUAGE_KEY, language);
}

export function label(key, ...values) {
  const text = LABELS[language][key];
  return typeof text === "function" ? text(...values) : text;
}

export async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    let violations = [];
    try {
      const error = await response.json();
      message = error.message || error.error_id || message;
      violations = error.field_violations || [];
    } catch {
      // not a JSON body: keep the status line
    }
    // The fields a refusal names (422), so that a form can mark them.
    throw Object.assign(new Error(message), { status: response.status, violations });
  }
  return response.status === 204 ? null : response.json();
}

export const number = (value, digits = 0) =>
  value === null || value === undefined ? "–" : Number(value).toFixed(digits);

// Whole seconds since an ISO moment (null for none).
export const seconds = (since, now = Date.now()) =>
  since ? Math.max(0, Math.round((now - Date.parse(since)) / 1000)) : null;

// Service level at or above `good` is green, at or above `warn` amber, below that red.
export const SERVICE_LEVEL = { good: 80, warn: 60 };

export function level(serviceLevel) {
  if (serviceLevel === null || serviceLevel === undefined) return "";
  if (serviceLevel >= SERVICE_LEVEL.good) return "good";
  return serviceLevel >= SERVICE_LEVEL.warn ? "warn" : "bad";
}
