// /email-change#token=...: the link mailed to a new address confirms the email change (R13).
//
// The token is read from the fragment and removed from the address bar at once. Nothing changes on
// load: mail scanners and link previews open links, and only the owner's click may act.

import { run } from "./api.js";
import { busy, byId, explain, say, showStep, startPage } from "./ui.js";

function takeToken() {
  const token = new URLSearchParams(window.location.hash.slice(1)).get("token");
  if (window.location.hash) window.history.replaceState(null, "", window.location.pathname);
  return token;
}

const state = { token: takeToken() };

function invalid(key) {
  say(byId("invalid-reason"), key, {}, "error");
  showStep("step-invalid");
}

async function onConfirm(event) {
  event.preventDefault();
  const message = byId("email-change-message");
  const data = await busy(event.currentTarget, message, () => run("ConfirmEmailChange", { token: state.token }));
  if (!data) return;
  const result = data.confirmEmailChange;
  if (result.__typename === "EmailChanged") {
    state.token = null;
    say(byId("done-message"), "emailchange.done", { email: result.user.email }, "success");
    showStep("step-done");
  } else if (result.__typename === "ChallengeExpired") {
    invalid("emailchange.invalid.used");
  } else if (result.__typename === "EmailInUse") {
    invalid("emailchange.error.EmailInUse");
  } else {
    explain(message, result, "emailchange");
  }
}

await startPage();
byId("email-change-form").addEventListener("submit", onConfirm);
if (state.token) showStep("step-confirm");
else invalid("report.invalid.missing");
