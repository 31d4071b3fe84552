// /report#token=...: "this wasn't me", the link in a notice to the account's previous address (R13).
//
// The token is read from the fragment and removed from the address bar at once. Nothing is reported
// on load: mail scanners and link previews open links, and only the owner's click may act.

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

async function onReport(event) {
  event.preventDefault();
  const message = byId("report-message");
  const data = await busy(event.currentTarget, message, () => run("ReportUnrecognizedChange", { token: state.token }));
  if (!data) return;
  const result = data.reportUnrecognizedChange;
  if (result.__typename === "ChangeReported") {
    state.token = null;
    say(byId("done-message"), result.cancelled ? "report.done.stopped" : "report.done.completed", {}, "success");
    showStep("step-done");
  } else if (result.__typename === "ChallengeExpired") {
    invalid("report.invalid.used");
  } else {
    explain(message, result, "report");
  }
}

await startPage();
byId("report-form").addEventListener("submit", onReport);
if (state.token) showStep("step-confirm");
else invalid("report.invalid.missing");
