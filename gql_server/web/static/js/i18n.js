// The page's language (English or Finnish) and its strings, from /static/i18n/<language>.json.
//
// Every translatable element carries its key in data-i18n (and its values in data-i18n-vars), so a
// language switch re-renders the page in place: the invitation page must not reload, because the
// token it needs is no longer in the address bar.

const LANGUAGES = ["en", "fi"];
const STORAGE_KEY = "gql_server.language";
// Dispatched on the document after every render in a new language.
const LANGUAGE_CHANGED = "gql-server-language";

let strings = {};
let current = "en";
// Strings the server described along with its data (a second-factor method's own name, label and hints,
// shipped by its plugin), by language; the page's own strings win over them. A Map, not an object: a
// language or key from elsewhere ("__proto__") must never reach an object's prototype.
const learned = new Map();

/** The language shown now: "en" or "fi". */
export function language() {
  return current;
}

/** The language chosen with a switch in this browser, if any. */
export function chosenHere() {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (LANGUAGES.includes(saved)) return saved;
  } catch {
    // Storage may be off (private modes); the browser's languages decide then.
  }
  return null;
}

function preferred() {
  const saved = chosenHere();
  if (saved) return saved;
  for (const tag of navigator.languages ?? [navigator.language]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

/** Load a language's strings and render every marked element in it. */
export async function useLanguage(chosen = preferred()) {
  const response = await fetch(`/static/i18n/${chosen}.json`, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`no strings for ${chosen}`);
  strings = await response.json();
  current = chosen;
  document.documentElement.lang = chosen;
  render(document);
  document.dispatchEvent(new Event(LANGUAGE_CHANGED));
}

/**
 * Take in strings the server sent for `language` (a method's own words): used for keys this client has no
 * string of, in that language, else in English. Empty strings are left out (they mean "nothing to say").
 */
export function learn(language, entries) {
  if (!learned.has(language)) learned.set(language, new Map());
  const known = learned.get(language);
  for (const [key, value] of Object.entries(entries)) {
    if (typeof value === "string" && value !== "") known.set(key, value);
  }
}

function lookup(key) {
  if (Object.hasOwn(strings, key)) return strings[key];
  for (const from of [learned.get(current), learned.get("en")]) {
    if (from?.has(key)) return from.get(key);
  }
  return undefined;
}

/** Whether a key has a string, the page's own or one the server sent (see `learn`). */
export function has(key) {
  return lookup(key) !== undefined;
}

/**
 * The string for `key` with {placeholders} filled from `vars`; the key itself when missing. With
 * `vars.count === 1`, the singular `<key>.one` is used when there is one.
 */
export function t(key, vars = {}) {
  const singular = vars.count === 1 && has(`${key}.one`);
  const template = lookup(singular ? `${key}.one` : key) ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? formatValue(name, vars[name]) : whole));
}

// The browser's own variant of the page's language (en-GB, fi-FI) for dates, else the language itself.
function locale() {
  return (navigator.languages ?? []).find((tag) => tag.toLowerCase().split("-")[0] === current) ?? current;
}

// Values are kept raw on the elements and formatted at each render, so dates and waits follow the language.
// A value {key: "..."} is that string, in the language of each render (a level's name inside a sentence).
function formatValue(name, value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "object" && typeof value.key === "string") return t(value.key);
  if (name.endsWith("At")) {
    return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(new Date(value));
  }
  if (name === "retryAfterSeconds") {
    const relative = new Intl.RelativeTimeFormat(locale(), { numeric: "auto" });
    const seconds = Number(value);
    if (seconds < 90) return relative.format(seconds, "second");
    if (seconds < 90 * 60) return relative.format(Math.ceil(seconds / 60), "minute");
    return relative.format(Math.ceil(seconds / 3600), "hour");
  }
  return String(value);
}

/** Mark `element` as showing `key` with `vars`, and render it now. */
export function translate(element, key, vars = {}) {
  element.dataset.i18n = key;
  element.dataset.i18nVars = JSON.stringify(vars);
  element.textContent = t(key, vars);
}

/** Render every marked element under `root` in the current language. */
export function render(root) {
  for (const element of root.querySelectorAll("[data-i18n]")) {
    const vars = element.dataset.i18nVars ? JSON.parse(element.dataset.i18nVars) : {};
    element.textContent = t(element.dataset.i18n, vars);
  }
  for (const element of root.querySelectorAll("[data-i18n-alt]")) {
    element.setAttribute("alt", t(element.dataset.i18nAlt));
  }
}

/** Show `chosen` now and remember it for this browser's next pages. */
export async function switchLanguage(chosen) {
  try {
    localStorage.setItem(STORAGE_KEY, chosen);
  } catch {
    // Not remembered then; the switch still applies to this page.
  }
  await useLanguage(chosen);
}

/**
 * Wire the header's language button: it names the other language and switches to it, through
 * `onSwitch(language)` when given (the account page also saves it as the user's language, R13).
 */
export function languageSwitch(button, onSwitch = switchLanguage) {
  const other = () => (current === "fi" ? "en" : "fi");
  const label = () => button.setAttribute("lang", other());
  label();
  document.addEventListener(LANGUAGE_CHANGED, label);
  button.addEventListener("click", () => onSwitch(other()));
}
