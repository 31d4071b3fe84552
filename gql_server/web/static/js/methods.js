// How a second-factor method is shown: the method describes itself (`ui`: the kind of prompt, its code
// field, its own strings in fi and en, shipped by its plugin) and this client renders from that alone.
//
// No method id or channel is written in this client: a new method (a pip package) works here as it is.

import { has, learn } from "./i18n.js";
import { element } from "./ui.js";

/** Whether codes of this method are sent on request (email, sms, ...): show a "send code" button. */
export function delivers(method) {
  return Boolean(method.ui?.sendsCodes ?? method.capabilities?.deliversCodes);
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

/** A span naming the method in the page's language: its own name, else its display name. */
export function methodName(method) {
  learnStrings(method);
  const key = `method.${method.id}`;
  return has(key) ? element("span", { i18n: key }) : element("span", { text: method.displayName });
}

/** The strings key for something said about a method ("label", "hint", "about"); generic when it says none. */
export function methodKey(method, what) {
  learnStrings(method);
  const key = `method.${method.id}.${what}`;
  return has(key) ? key : `method.other.${what}`;
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
