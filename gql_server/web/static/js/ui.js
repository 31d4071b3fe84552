// Small DOM helpers shared by the pages: steps, messages, busy forms, elements, failures in words.

import { ServiceError } from "./api.js";
import { has, languageSwitch, t, translate, useLanguage } from "./i18n.js";

/** The element with this id. */
export function byId(id) {
  return document.getElementById(id);
}

/**
 * Load the strings, render the page in the user's language and wire the language button (to
 * `onLanguage(language)` instead of a plain switch when given).
 */
export async function startPage(onLanguage = undefined) {
  await useLanguage();
  languageSwitch(byId("language"), onLanguage);
}

/**
 * Show the section `id` of the page's `.step` sections and hide the others; move focus to `focus`
 * (an element) or else to the section's heading, so keyboard and screen-reader users follow along.
 */
export function showStep(id, focus = null) {
  for (const section of document.querySelectorAll("section.step")) section.hidden = section.id !== id;
  const target = focus ?? byId(id).querySelector("h1, h2");
  target?.focus();
}

/** Show a message from the strings in a message element; `kind` is "info", "success" or "error". */
export function say(element, key, vars = {}, kind = "info") {
  translate(element, key, vars);
  element.className = `message ${kind}`;
}

/** Show the server's own words (for a failure this client has no string of its own for). */
export function sayText(element, text, kind = "error") {
  delete element.dataset.i18n;
  delete element.dataset.i18nVars;
  element.textContent = text;
  element.className = `message ${kind}`;
}

/** "We sent the invitation", or, while the mail server has not taken it yet, "it is on its way" (S36). */
export function invitationSentKey(requested) {
  return requested.delivery === "QUEUED" ? "check.queued" : "check.sent";
}

/** Empty a message element. */
export function quiet(element) {
  delete element.dataset.i18n;
  delete element.dataset.i18nVars;
  element.textContent = "";
  element.className = "message";
}

/**
 * Explain a failure member of a result union in `element`. Page-specific strings
 * (`<context>.error.<Typename>`) win over the general ones (`error.<Typename>`); `context` may be a list,
 * the first with a string winning (a passkey's words, then the page's); a member this client does not
 * know shows the server's message.
 */
export function explain(element, result, context) {
  const type = result.__typename;
  const vars = { attemptsLeft: result.attemptsLeft, retryAfterSeconds: result.retryAfterSeconds };
  const contexts = [context].flat().filter(Boolean);
  const candidates = [];
  if (type === "InvalidInput" && result.field) {
    candidates.push(...contexts.map((c) => `${c}.error.InvalidInput.${result.field}`), `error.InvalidInput.${result.field}`);
  }
  if (type === "InvalidCode" && result.attemptsLeft === 0) candidates.push("error.InvalidCode.none");
  // A right code used already (S8: e.g. the one that just proved a new authenticator app): wait for the next
  // one. Not for a context with words of its own (a passkey's), where no code is typed.
  if (type === "InvalidCode" && result.reusedCode && !contexts.some((c) => has(`${c}.error.InvalidCode`))) {
    candidates.push("error.InvalidCode.reused");
  }
  candidates.push(...contexts.map((c) => `${c}.error.${type}`), `error.${type}`);
  const key = candidates.find(has);
  if (key) say(element, key, vars, "error");
  else sayText(element, result.message ?? t("error.unexpected"));
}

/** Explain a thrown error (network, retryable, mail, unexpected) in `element`. */
export function explainError(element, error) {
  if (!(error instanceof ServiceError)) console.error(error);
  const kind = error instanceof ServiceError ? error.kind : "unexpected";
  const key = kind === "retry" && error.code === "MAIL_NOT_DELIVERED" ? "error.retry.mail" : `error.${kind}`;
  say(element, has(key) ? key : "error.unexpected", {}, "error");
}

/**
 * Run `action` for a form: its buttons are disabled meanwhile (no double submits), and a thrown
 * error is explained in `message`. Resolves to the action's value, or undefined after an error.
 */
export async function busy(form, message, action) {
  const buttons = [...form.querySelectorAll("button")];
  form.setAttribute("aria-busy", "true");
  for (const button of buttons) button.disabled = true;
  try {
    return await action();
  } catch (error) {
    explainError(message, error);
    return undefined;
  } finally {
    form.removeAttribute("aria-busy");
    for (const button of buttons) button.disabled = false;
  }
}

/** A new element: `attributes` (with `text`, `i18n` and `vars` handled specially) and children. */
export function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "i18n") translate(node, value, attributes.vars ?? {});
    else if (name !== "vars") node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children);
  return node;
}

/** Replace the children of `parent`. */
export function fill(parent, ...children) {
  parent.replaceChildren(...children);
}

/**
 * Ask a yes/no question in the page's <dialog id="confirm"> (heading `key`, confirming button `okKey`);
 * resolves to true when confirmed. The safe choice has the focus.
 */
export function ask(key, okKey, vars = {}) {
  const dialog = byId("confirm");
  translate(byId("confirm-heading"), key, vars);
  translate(byId("confirm-ok"), okKey);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    byId("confirm-cancel").focus();
  });
}
