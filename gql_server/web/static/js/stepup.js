// The step-up dialog (R14): a sensitive change answered ReauthenticationRequired, so the user verifies
// one of the listed methods again (reauthenticate), and the change is then made as first asked.
//
// Any page with the dialog's elements (see account.html, <dialog id="step-up">) runs its sensitive
// mutations through `runStepped`. The codes typed here are sent once and kept nowhere. A passkey is answered
// by the browser's ceremony instead (beginReauthentication's options, then reauthenticate with its JSON).

import { run } from "./api.js";
import { translate } from "./i18n.js";
import { ceremonyCode, ceremonyOf, delivers, isRecovery, methodKey, methodName, prepareCodeInput, runsHere } from "./methods.js";
import { busy, byId, element, explain, fill, quiet, say } from "./ui.js";

/** What `runStepped` answers when the user closed the dialog: nothing was changed. */
export const CANCELLED = Object.freeze({ __typename: "StepUpCancelled" });

const state = { methods: [], method: null, resolve: null, ended: false };
let installed = null;

// The installed methods (how each is shown), to present the ids ReauthenticationRequired lists.
async function installedMethods() {
  if (!installed) {
    const data = await run("SecondFactorMethods");
    installed = new Map(data.secondFactorMethods.map((method) => [method.id, method]));
  }
  return installed;
}

function primaryMethods() {
  return state.methods.filter((method) => !isRecovery(method));
}

function choose(method) {
  state.method = method;
  byId("step-up-send-area").hidden = !delivers(method);
  // A passkey: nothing to type; the hint says what the browser asks for, the button starts it.
  const ceremony = ceremonyOf(method);
  byId("step-up-code-area").hidden = ceremony !== null;
  translate(byId("step-up-submit"), ceremony?.words.use ?? "second.submit");
  translate(byId("step-up-code-label"), methodKey(method, "label"));
  translate(byId("step-up-hint"), methodKey(method, "hint"));
  prepareCodeInput(byId("step-up-code"), method);
  quiet(byId("step-up-message"));
}

function showOptions() {
  // Recovery codes come last, as on the login page: they are the fallback.
  const ordered = [...primaryMethods(), ...state.methods.filter((m) => isRecovery(m))];
  const options = ordered.map((method, index) =>
    element(
      "p",
      { class: "check" },
      element("input", {
        type: "radio",
        name: "step-up-method",
        id: `step-up-method-${method.id}`,
        value: method.id,
        checked: index === 0,
      }),
      element("label", { for: `step-up-method-${method.id}` }, methodName(method)),
    ),
  );
  fill(byId("step-up-options"), ...options);
  byId("step-up-choice").hidden = ordered.length < 2;
  choose(ordered[0]);
}

/** Ask for a second factor of `methodIds`; resolves to true once the session is verified again. */
export async function stepUp(methodIds) {
  const known = await installedMethods();
  state.methods = methodIds
    .map((id) => known.get(id) ?? { id, displayName: id })
    .filter(runsHere);
  state.ended = false;
  const usable = state.methods.length > 0;
  if (usable) showOptions();
  else {
    // Nothing the user may verify with runs in this browser (a passkey without WebAuthn): say so.
    fill(byId("step-up-options"));
    byId("step-up-choice").hidden = true;
    byId("step-up-code-area").hidden = true;
    byId("step-up-send-area").hidden = true;
    state.method = null;
    say(byId("step-up-message"), "second.none", {}, "error");
  }
  byId("step-up-submit").hidden = !usable;
  translate(byId("step-up-cancel"), "confirm.cancel");
  const dialog = byId("step-up");
  dialog.showModal();
  byId(usable ? answerField() : "step-up-cancel").focus();
  return new Promise((resolve) => {
    state.resolve = resolve;
  });
}

/** Where the user goes on: "Send code", the code field, or a passkey's button. */
function answerField() {
  if (ceremonyOf(state.method)) return "step-up-submit";
  return delivers(state.method) ? "step-up-send" : "step-up-code";
}

function finish(verified) {
  const resolve = state.resolve;
  state.resolve = null;
  byId("step-up-code").value = "";
  if (byId("step-up").open) byId("step-up").close();
  resolve?.(verified);
}

async function onSend() {
  const message = byId("step-up-message");
  const data = await busy(byId("step-up-form"), message, () =>
    run("SendReauthenticationCode", { method: state.method.id }),
  );
  if (!data) return;
  const result = data.sendReauthenticationCode;
  if (result.__typename === "CodeSent") {
    say(message, "second.sent", { sentTo: result.sentTo, expiresAt: result.expiresAt }, "success");
    byId("step-up-code").focus();
  } else {
    explain(message, result, "stepup");
  }
}

// The session has ended (too many wrong codes, or it expired): only a new sign-in helps.
function ended(key) {
  state.ended = true;
  say(byId("step-up-message"), key, {}, "error");
  byId("step-up-submit").hidden = true;
  byId("step-up-send-area").hidden = true;
  translate(byId("step-up-cancel"), "login.back");
  byId("step-up-cancel").focus();
}

/** A passkey's answer: the server's options for this session, the browser's ceremony; the JSON to send, or
 * null after saying why not. */
async function ceremonyAnswer(form, message, ceremony) {
  const data = await busy(form, message, () => run("BeginReauthentication", { method: state.method.id }));
  if (!data) return null;
  const begun = data.beginReauthentication;
  if (begun.__typename === "ChallengeExpired") {
    ended("stepup.ended");
    return null;
  }
  if (begun.__typename !== "SecondFactorChallenge") {
    explain(message, begun, [ceremony.words.context, "stepup"]);
    return null;
  }
  return ceremonyCode(ceremony, "get", begun.options, form, message);
}

async function onSubmit(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const message = byId("step-up-message");
  const ceremony = ceremonyOf(state.method);
  const code = ceremony ? await ceremonyAnswer(form, message, ceremony) : byId("step-up-code").value.trim();
  if (ceremony && !code) {
    if (!state.ended) byId("step-up-submit").focus();
    return;
  }
  if (!code) {
    say(message, "second.missing", {}, "error");
    byId("step-up-code").focus();
    return;
  }
  const data = await busy(form, message, () =>
    run("Reauthenticate", { method: state.method.id, code }),
  );
  if (!data) return;
  const result = data.reauthenticate;
  if (result.__typename === "Reauthenticated") {
    finish(true);
  } else if (result.__typename === "AuthenticationRequired") {
    ended("stepup.ended");
  } else if (result.__typename === "InvalidCode" && result.attemptsLeft === 0) {
    // R14: the last wrong step-up code ends the session.
    ended("stepup.ended");
  } else {
    byId("step-up-code").value = "";
    explain(message, result, [ceremony?.words.context, "stepup"]);
    byId(answerField()).focus();
  }
}

function onClose() {
  if (state.ended) {
    window.location.assign("/login");
    return;
  }
  finish(false);
}

/**
 * Run the mutation `name` with `variables` and return its answer `data[field]`. When that is
 * ReauthenticationRequired with methods to verify, the dialog asks for a code and the mutation runs once
 * more; a password user's ReauthenticationRequired (no methods, R14) is returned as it is, and a closed
 * dialog gives CANCELLED. Thrown errors (network, ...) are the caller's, as with `run`.
 */
export async function runStepped(name, variables, field) {
  const result = (await run(name, variables))[field];
  if (result.__typename !== "ReauthenticationRequired" || result.methods.length === 0) return result;
  if (!(await stepUp(result.methods))) return CANCELLED;
  return (await run(name, variables))[field];
}

byId("step-up-form").addEventListener("submit", onSubmit);
byId("step-up-send").addEventListener("click", onSend);
byId("step-up-cancel").addEventListener("click", onClose);
// Escape closes a modal dialog ("cancel", then "close"); whichever way it closes, the caller gets an answer.
byId("step-up").addEventListener("close", () => {
  if (state.resolve || state.ended) onClose();
});
byId("step-up-options").addEventListener("change", (event) => {
  choose(state.methods.find((method) => method.id === event.target.value));
  byId(answerField()).focus();
});
