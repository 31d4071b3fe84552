// How a second-factor method is shown: its name and hint in the page's language, and its code field.
//
// Built-in methods (and the sms package) have strings of their own; any other plugin's method shows
// the display name it registered, so a new method works here without a change to this client.

import { has } from "./i18n.js";
import { element } from "./ui.js";

// For a method described without capabilities (an older server): channels whose codes come from the
// user's own device or paper; every other channel delivers them.
const SELF_SERVED = new Set(["authenticator_app", "lookup_secret"]);

/** Whether codes of this method are sent on request (email, sms, ...): show a "send code" button. The
 * method's capabilities say so (a hardware token of a plugin sends nothing); the channel only when absent. */
export function delivers(method) {
  if (typeof method.capabilities?.deliversCodes === "boolean") return method.capabilities.deliversCodes;
  return !SELF_SERVED.has(method.channel);
}

// The browser APIs this client drives (a method whose capabilities name another is not offered here).
const BROWSER_APIS = new Set();

/** Whether this client can run the method: it needs no browser API, or one the client drives. A passkey
 * method (browserApi "webauthn") waits for its ceremony in this client; other clients may offer it. */
export function runsHere(method) {
  const api = method.capabilities?.browserApi;
  return !api || BROWSER_APIS.has(api);
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

/** A span naming the method: our string for it, or the plugin's display name. */
export function methodName(method) {
  const key = `method.${method.id}`;
  return has(key) ? element("span", { i18n: key }) : element("span", { text: method.displayName });
}

/** The strings key for something said about a method ("label", "hint", "about"); generic for unknown methods. */
export function methodKey(method, what) {
  const key = `method.${method.id}.${what}`;
  return has(key) ? key : `method.other.${what}`;
}

/** Set up a code input for `method`: recovery codes are letters with dashes, the others digits. */
export function prepareCodeInput(input, method) {
  const lookup = isRecovery(method);
  input.value = "";
  input.inputMode = lookup ? "text" : "numeric";
  input.maxLength = lookup ? 24 : 12;
  input.autocapitalize = "off";
}
