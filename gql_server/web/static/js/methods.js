// How a second-factor method is shown: its name and hint in the page's language, and its code field.
//
// Built-in methods (and the sms package) have strings of their own; any other plugin's method shows
// the display name it registered, so a new method works here without a change to this client.

import { has } from "./i18n.js";
import { element } from "./ui.js";
import * as webauthn from "./webauthn.js";

// For a method described without capabilities (an older server): channels whose codes come from the
// user's own device or paper; every other channel delivers them.
const SELF_SERVED = new Set(["authenticator_app", "lookup_secret"]);

/** Whether codes of this method are sent on request (email, sms, ...): show a "send code" button. The
 * method's capabilities say so (a hardware token of a plugin sends nothing); the channel only when absent. */
export function delivers(method) {
  if (typeof method.capabilities?.deliversCodes === "boolean") return method.capabilities.deliversCodes;
  return !SELF_SERVED.has(method.channel);
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

/** Whether the method is a set of codes the user keeps (recovery codes): something they know, typed from
 * paper. Its capabilities say so; the channel only for a server that does not describe them. */
export function isRecovery(method) {
  if (method.capabilities?.kind) return method.capabilities.kind === "KNOWLEDGE";
  return method.channel === "lookup_secret";
}

/** Order for offering methods: phishing-resistant ones first, then those whose codes come from the user's
 * own device, then those the service sends (what the capabilities say, never an id). */
export function recommendedFirst(a, b) {
  return rank(a) - rank(b);
}

function rank(method) {
  const capabilities = method.capabilities ?? {};
  if (capabilities.phishingResistant) return 0;
  return delivers(method) ? 2 : 1;
}

/** Whether the method asks for a phone number at enrollment (its enrollmentInput declares `phoneNumber`). */
export function asksForPhone(method) {
  return Boolean(method?.enrollmentInput?.properties?.phoneNumber);
}

/** A span naming the method: our string for it, its browser API's, or the plugin's display name. */
export function methodName(method) {
  const key = `method.${method.id}`;
  if (has(key)) return element("span", { i18n: key });
  const ceremony = ceremonyOf(method);
  return ceremony ? element("span", { i18n: ceremony.words.name }) : element("span", { text: method.displayName });
}

/** The strings key for something said about a method ("label", "hint", "about"): its own, its browser
 * API's (a passkey's "about"), or the generic one. */
export function methodKey(method, what) {
  const key = `method.${method.id}.${what}`;
  if (has(key)) return key;
  return ceremonyOf(method)?.words[what] ?? `method.other.${what}`;
}

/** Set up a code input for `method`: recovery codes are letters with dashes, the others digits. */
export function prepareCodeInput(input, method) {
  const lookup = isRecovery(method);
  input.value = "";
  input.inputMode = lookup ? "text" : "numeric";
  input.maxLength = lookup ? 24 : 12;
  input.autocapitalize = "off";
}
