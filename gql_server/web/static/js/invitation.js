// /invitation#token=...: choose a method, prove it with a code, get recovery codes, signed in (R5).
// A LINK_ACCOUNT invitation (R20: the address typed in a conversion has an account) or a JOIN_CUSTOMER one
// (R19: an admin invited an existing account) says what accepting does instead, asks to sign in to the
// account it names (the login page brings the user back here), and accepts (accept.js).
//
// The token is read from the fragment (which browsers never send to a server) and removed from the
// address bar at once, so it is not left in the history, in bookmarks or on a shared screen.

import { showAcceptance } from "./accept.js";
import { run } from "./api.js";
import { language, translate, useLanguage } from "./i18n.js";
import {
  asksForPhone,
  ceremonyCode,
  ceremonyOf,
  delivers,
  methodKey,
  methodName,
  prepareCodeInput,
  recommendedFirst,
  runsHere,
} from "./methods.js";
import { showRecoveryCodes } from "./recovery.js";
import { busy, byId, element, explain, explainError, fill, quiet, say, showStep, startPage } from "./ui.js";

function takeToken() {
  const token = new URLSearchParams(window.location.hash.slice(1)).get("token");
  if (window.location.hash) window.history.replaceState(null, "", window.location.pathname);
  return token;
}

// Before anything else, even before the strings load.
const state = { token: takeToken(), invitation: null, method: null, enrollment: null, options: null };

function invalid(key) {
  translate(byId("invalid-heading"), "invitation.invalid.heading");
  say(byId("invalid-reason"), key, {}, "error");
  byId("invalid-login").hidden = false;
  byId("retry-load").hidden = true;
  showStep("step-invalid");
}

async function load() {
  if (!state.token) return invalid("invitation.invalid.missing");
  let data;
  try {
    data = await run("Invitation", { token: state.token });
  } catch (error) {
    // No answer: the token may well be good, so offer to try again rather than say "expired".
    translate(byId("invalid-heading"), "invitation.error.heading");
    explainError(byId("invalid-reason"), error);
    byId("invalid-login").hidden = true;
    byId("retry-load").hidden = false;
    showStep("step-invalid");
    return;
  }
  if (!data.invitation) return invalid("invitation.invalid.used");
  // The page speaks the account's language, as its email did (R13); the header's switch still changes it.
  if (data.invitation.locale && data.invitation.locale !== language()) await useLanguage(data.invitation.locale);
  if (data.invitation.kind !== "ENROLL") {
    await showAcceptance(data.invitation, state.token, invalid);
    return;
  }
  // The recommended methods first (phishing-resistant, then codes from the user's own device), the others
  // as fallbacks: what each method's capabilities say.
  const methods = data.invitation.methods.filter(runsHere).sort(recommendedFirst);
  state.invitation = { ...data.invitation, methods };
  showChoice();
}

// --- Step 1: choose --------------------------------------------------------------------------------

function showChoice() {
  const invitation = state.invitation;
  translate(byId("invitation-for"), "invitation.for", { email: invitation.email, expiresAt: invitation.expiresAt });
  const options = invitation.methods.map((method, index) =>
    element(
      "p",
      { class: "check" },
      element("input", {
        type: "radio",
        name: "method",
        id: `method-${method.id}`,
        value: method.id,
        checked: index === 0,
        "aria-describedby": `method-${method.id}-hint`,
      }),
      element("label", { for: `method-${method.id}` }, methodName(method)),
      element("span", { id: `method-${method.id}-hint`, class: "hint", i18n: methodKey(method, "about") }),
    ),
  );
  fill(byId("method-options"), ...options);
  if (invitation.methods.length === 0) say(byId("choose-message"), "invitation.none", {}, "error");
  onMethodChange();
  showStep("step-choose");
}

function chosenMethod() {
  const checked = document.querySelector("input[name=method]:checked");
  return state.invitation.methods.find((m) => m.id === checked?.value) ?? null;
}

function onMethodChange() {
  const method = chosenMethod();
  // Methods that ask for a number (their enrollmentInput says so) get the field.
  byId("phone-area").hidden = !asksForPhone(method);
}

async function begin(form, message) {
  const method = chosenMethod();
  if (!method) {
    say(message, "invitation.choose.missing", {}, "error");
    return;
  }
  const phoneNumber = asksForPhone(method) ? byId("phone").value.trim() : null;
  const data = await busy(form, message, () =>
    run("BeginEnrollment", { invitation: state.token, method: method.id, phoneNumber }),
  );
  if (!data) return;
  const result = data.beginEnrollment;
  if (result.__typename === "EnrollmentStarted") {
    state.method = method;
    state.enrollment = result.enrollment;
    // A method answered by the browser (a passkey): the options its ceremony takes.
    state.options = result.options ?? null;
    showEnrollment(result);
  } else if (result.__typename === "ChallengeExpired") {
    invalid("invitation.invalid.used");
  } else {
    explain(message, result, "invitation");
    if (result.field === "phoneNumber") byId("phone").focus();
  }
}

// --- Step 2: prove it ------------------------------------------------------------------------------

function showEnrollment(started) {
  const method = state.method;
  const showsSecret = Boolean(started.secret);
  const ceremony = ceremonyOf(method);
  const heading = showsSecret ? "invitation.secret.heading" : "invitation.sent.heading";
  translate(byId("enroll-heading"), ceremony?.words.enrollHeading ?? heading);
  byId("secret-area").hidden = !showsSecret;
  byId("sent-area").hidden = showsSecret || ceremony !== null;
  // Nothing to type for a passkey: a hint, and the button runs the browser's ceremony.
  byId("code-area").hidden = ceremony !== null;
  byId("ceremony-hint").hidden = ceremony === null;
  if (ceremony) translate(byId("ceremony-hint"), ceremony.words.enrollHint);
  translate(byId("confirm-submit"), ceremony?.words.enroll ?? "invitation.confirm");
  if (showsSecret) {
    byId("qr").src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(started.qrCodeSvg)}`;
    // Groups of four are easier to type into an app by hand; apps ignore the spaces.
    byId("secret-text").textContent = started.secret.match(/.{1,4}/g).join(" ");
    byId("open-app").href = started.provisioningUri;
  } else if (!ceremony) {
    // The code's own expiry (10 minutes), not the enrollment's (15): after it, only a new code works.
    const expiresAt = started.codeExpiresAt ?? started.expiresAt;
    translate(byId("sent-to"), "invitation.sent", { sentTo: started.sentTo ?? "", expiresAt });
  }
  // NEW: a new account chooses its first password; CURRENT: after an operator reset, the account's own (S34).
  const password = state.invitation.password;
  byId("password-area").hidden = password !== "NEW";
  byId("current-password-area").hidden = password !== "CURRENT";
  byId("username").value = state.invitation.email;
  translate(byId("code-label"), methodKey(method, "label"));
  prepareCodeInput(byId("code"), method);
  // Where the code went is part of the field's description for screen readers.
  if (showsSecret) byId("code").removeAttribute("aria-describedby");
  else byId("code").setAttribute("aria-describedby", "sent-to");
  quiet(byId("confirm-message"));
  showStep("step-enroll", byId(showsSecret ? "enroll-heading" : passwordField() ?? answerField()));
}

/** Where the answer is given: the code field, or a passkey's button. */
function answerField() {
  return ceremonyOf(state.method) ? "confirm-submit" : "code";
}

/** The id of the password field this invitation needs, if any. */
function passwordField() {
  return { NEW: "new-password", CURRENT: "current-password" }[state.invitation.password] ?? null;
}

async function onConfirm(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const message = byId("confirm-message");
  const ceremony = ceremonyOf(state.method);
  let code = ceremony ? null : byId("code").value.trim();
  let password = null;
  if (state.invitation.password === "CURRENT") password = byId("current-password").value;
  if (state.invitation.password === "NEW") {
    password = byId("new-password").value;
    if (password !== byId("new-password-again").value) {
      say(message, "invitation.password.mismatch", {}, "error");
      byId("new-password-again").focus();
      return;
    }
  }
  if (ceremony) {
    // The browser makes the passkey; its credential (JSON) is the answer to confirm.
    code = await ceremonyCode(ceremony, "create", state.options, form, message);
    if (!code) {
      byId("confirm-submit").focus();
      return;
    }
  } else if (!code) {
    say(message, "second.missing", {}, "error");
    byId("code").focus();
    return;
  }
  const data = await busy(form, message, () =>
    run("ConfirmEnrollment", { enrollment: state.enrollment, code, password }),
  );
  if (!data) return;
  const result = data.confirmEnrollment;
  if (result.__typename === "EnrollmentCompleted") {
    // The invitation is used now; nothing on this page needs it any more.
    state.token = null;
    showRecoveryCodes(result.recoveryCodes, result.user.email);
    return;
  }
  if (result.__typename === "ChallengeExpired" || (result.__typename === "InvalidCode" && result.attemptsLeft === 0)) {
    // This enrollment is over; the invitation may still be good for a new one.
    explain(byId("choose-message"), result, "enroll");
    showStep("step-choose");
    return;
  }
  explain(message, result, [ceremony?.words.context, "enroll"]);
  const wrongPassword = result.field === "password" || result.__typename === "InvalidCredentials";
  byId(wrongPassword ? passwordField() ?? answerField() : answerField()).focus();
  if (result.__typename === "InvalidCode") byId("code").value = "";
}

async function onCopySecret() {
  const secret = byId("secret-text").textContent.replaceAll(" ", "");
  try {
    await navigator.clipboard.writeText(secret);
    say(byId("confirm-message"), "invitation.secret.copied", {}, "success");
  } catch {
    say(byId("confirm-message"), "copy.failed", {}, "error");
  }
}

// --- Wiring ---------------------------------------------------------------------------------------

await startPage();
byId("method-options").addEventListener("change", onMethodChange);
byId("choose-form").addEventListener("submit", (event) => {
  event.preventDefault();
  begin(event.currentTarget, byId("choose-message"));
});
byId("send-again").addEventListener("click", () => begin(byId("step-enroll"), byId("confirm-message")));
byId("choose-again").addEventListener("click", () => {
  quiet(byId("choose-message"));
  showStep("step-choose");
});
byId("confirm-form").addEventListener("submit", onConfirm);
byId("copy-secret").addEventListener("click", onCopySecret);
byId("retry-load").addEventListener("click", load);
// A new link pasted into a tab already on this page changes only the fragment: the browser loads nothing,
// so the page starts over with the new token itself.
window.addEventListener("hashchange", () => {
  if (!new URLSearchParams(window.location.hash.slice(1)).get("token")) return;
  Object.assign(state, { token: takeToken(), invitation: null, method: null, enrollment: null, options: null });
  for (const id of ["choose-message", "confirm-message"]) quiet(byId(id));
  load();
});
await load();
