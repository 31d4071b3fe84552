// How a second-factor method is shown: the method describes itself (`ui`: the kind of prompt, its code
// field, its own strings in fi and en, shipped by its plugin) and this client renders from that alone.
//
// No method id or channel is written in this client: a new method (a pip package) works here as it is.

import { has, learn } from "./i18n.js";
import { busy, element, say } from "./ui.js";
import * as webauthn from "./webauthn.js";

/** Whether codes of this method are sent on request (by email, by text message, ...): show a "send code" button. */
export function delivers(method) {
  return Boolean(method.ui?.sendsCodes ?? method.capabilities?.deliversCodes);
}

// The browser APIs this client drives, each by a module with `supported()`, `create(options)`, `get(options)`
// and its `words`; only those this browser supports count (a method needing another is not offered here).
const CEREMONIES = new Map([["webauthn", webauthn]].filter(([, ceremony]) => ceremony.supported()));
const BROWSER_APIS = new Set(CEREMONIES.keys());

/** Whether this client can run the method: it needs no browser API, or one the client drives in this
 * browser (passkeys: WebAuthn with its JSON helpers, on https or localhost). */
export function runsHere(method) {
  const api = method.capabilities?.browserApi;
  return !api || BROWSER_APIS.has(api);
}

/** The browser ceremony that answers the method instead of a typed code (webauthn.js for browserApi
 * "webauthn"), or null: the user types a code. */
export function ceremonyOf(method) {
  return CEREMONIES.get(method?.capabilities?.browserApi) ?? null;
}

/** Run a browser ceremony (`kind`: "create" for enrolling, "get" for answering a challenge) with the
 * server's `options` while `form` is busy: the JSON text to send as the code, or null when there is none
 * (a refusal or cancellation is said in `message`). */
export async function ceremonyCode(ceremony, kind, options, form, message) {
  const made = await busy(form, message, () => ceremony[kind](options));
  if (made?.failure) say(message, made.failure, {}, "error");
  return made?.code ?? null;
}

/** Whether the method is a set of codes the user keeps (recovery codes): something they know, typed from
 * paper. Its capabilities say so. */
export function isRecovery(method) {
  return method.capabilities?.kind === "KNOWLEDGE";
}

/** Order for offering methods: phishing-resistant ones first, then those whose codes come from the user's
 * own device, then those the service sends (what the capabilities say, never an id). */
export function recommendedFirst(a, b) {
  return rank(a) - rank(b);
}

function rank(method) {
  if (method.capabilities?.phishingResistant) return 0;
  return delivers(method) ? 2 : 1;
}

/** Whether the method asks for a phone number at enrollment (its enrollmentInput declares `phoneNumber`). */
export function asksForPhone(method) {
  return Boolean(method?.enrollmentInput?.properties?.phoneNumber);
}

// The method's own strings become keys method.<id>, method.<id>.about, .label and .hint (see `learn`).
function learnStrings(method) {
  for (const text of method.ui?.strings ?? []) {
    learn(text.language, {
      [`method.${method.id}`]: text.name,
      [`method.${method.id}.about`]: text.about,
      [`method.${method.id}.label`]: text.label,
      [`method.${method.id}.hint`]: text.hint,
    });
  }
}

/** A span naming the method in the page's language: its own name, its browser API's, or its display name. */
export function methodName(method) {
  learnStrings(method);
  const key = `method.${method.id}`;
  if (has(key)) return element("span", { i18n: key });
  const ceremony = ceremonyOf(method);
  return ceremony ? element("span", { i18n: ceremony.words.name }) : element("span", { text: method.displayName });
}

/** The strings key for something said about a method ("label", "hint", "about"): its own, its browser
 * API's (a passkey's "about"), or the generic one. */
export function methodKey(method, what) {
  learnStrings(method);
  const key = `method.${method.id}.${what}`;
  if (has(key)) return key;
  return ceremonyOf(method)?.words[what] ?? `method.other.${what}`;
}

/** Set up a code input for `method` from its code field's description (keyboard, length, autofill). */
export function prepareCodeInput(input, method) {
  const field = method.ui ?? {};
  const longest = field.maxLength ?? 12;
  input.value = "";
  input.inputMode = field.inputMode ?? "numeric";
  // Room for the spaces and dashes people type or paste along with a code (the server removes them).
  input.maxLength = longest + Math.ceil(longest / 3);
  input.autocomplete = field.autocomplete ?? "one-time-code";
  input.autocapitalize = "off";
}
