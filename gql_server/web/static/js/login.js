// /login: email and password, then whatever the LoginResult asks for next.
//
// SecondFactorRequired -> the code step; ConversionRequired -> the conversion screen (R3, R4);
// ConversionPending -> the re-send screen (R4); LoginSuccess -> /account. The ticket and the
// challenge stay in this module's memory only.
//
// /reset-password#token=... is this page too: a new password first (R13, R16), then the same steps,
// since resetPassword answers what a login with the new password would (never skipping a factor). So is
// /forgot-password, which asks for that link (R16).
//
// /login#invitation=<token>&email=<address> comes from a LINK_ACCOUNT or JOIN_CUSTOMER invitation (R19,
// R20): the address is filled in, and a successful sign-in goes back to /invitation#token=<token> rather
// than to /account. Like every token here, it is taken from the fragment and kept in memory only.

import { run } from "./api.js";
import { translate } from "./i18n.js";
import { ceremonyCode, ceremonyOf, delivers, isRecovery, methodKey, methodName, prepareCodeInput, runsHere } from "./methods.js";
import { busy, byId, element, explain, fill, invitationSentKey, quiet, say, showStep, startPage } from "./ui.js";

function takeFragment() {
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  if (window.location.hash) window.history.replaceState(null, "", window.location.pathname);
  return fragment;
}

// Before anything else: the reset link's token, or the invitation to return to, leaves the address bar at once.
const fragment = takeFragment();
const resetToken = window.location.pathname === "/reset-password" ? fragment.get("token") : null;
// R19, R20: /login#invitation=<token>&email=<address>, from an invitation that needs its account signed in.
const invitation = window.location.pathname === "/login" ? fragment.get("invitation") : null;
const state = { challenge: null, methods: [], method: null, ticket: null };

function startOver(key = null) {
  state.challenge = null;
  state.ticket = null;
  byId("password").value = "";
  const message = byId("password-message");
  if (key) say(message, key, {}, "error");
  else quiet(message);
  translate(document.querySelector("title"), "login.title");
  showStep("step-password", byId(byId("email").value ? "password" : "email"));
}

async function onPassword(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const message = byId("password-message");
  const email = byId("email").value.trim();
  const password = byId("password").value;
  if (!email || !password) {
    say(message, "login.missing", {}, "error");
    byId(email ? "password" : "email").focus();
    return;
  }
  quiet(message);
  const data = await busy(form, message, () => run("Login", { email, password }));
  if (!data) return;
  const result = data.login;
  if (!follow(result, email)) {
    byId("password").value = "";
    explain(message, result, "login");
    byId("password").focus();
  }
}

/** Where a successful sign-in leads: the invitation it was for, or the account page. */
function signedIn() {
  const invitationPage = `/invitation#${new URLSearchParams({ token: invitation ?? "" })}`;
  window.location.assign(invitation ? invitationPage : "/account");
}

/** Go on from a LoginResult (of login or resetPassword); false when it is a failure to explain. */
function follow(result, email) {
  switch (result.__typename) {
    case "LoginSuccess":
      signedIn();
      return true;
    case "SecondFactorRequired":
      showSecondFactor(result);
      return true;
    case "ConversionRequired":
      showConversion(result);
      return true;
    case "ConversionPending":
      showCheckEmail({ pending: result, email });
      return true;
    default:
      return false;
  }
}

// --- A new password from the emailed link (R13, R16) ----------------------------------------------

async function onReset(event) {
  event.preventDefault();
  const message = byId("reset-message");
  const newPassword = byId("reset-password").value;
  if (!newPassword) {
    say(message, "reset.missing", {}, "error");
    byId("reset-password").focus();
    return;
  }
  if (newPassword !== byId("reset-password-again").value) {
    say(message, "invitation.password.mismatch", {}, "error");
    byId("reset-password-again").focus();
    return;
  }
  const data = await busy(event.currentTarget, message, () =>
    run("ResetPassword", { token: resetToken, newPassword }),
  );
  if (!data) return;
  const result = data.resetPassword;
  if (follow(result, "")) return;
  if (result.__typename === "ChallengeExpired") {
    showForgot("reset.error.ChallengeExpired");
  } else {
    explain(message, result, "reset");
    byId("reset-password").focus();
  }
}

// --- Forgot your password (R16) -------------------------------------------------------------------

function showForgot(key = null) {
  const message = byId("forgot-message");
  if (key) say(message, key, {}, "error");
  else quiet(message);
  byId("forgot-email").value = byId("email").value.trim();
  translate(document.querySelector("title"), "forgot.title");
  showStep("step-forgot", byId("forgot-email"));
}

async function onForgot(event) {
  event.preventDefault();
  const message = byId("forgot-message");
  const email = byId("forgot-email").value.trim();
  if (!email) {
    say(message, "error.InvalidInput.email", {}, "error");
    byId("forgot-email").focus();
    return;
  }
  const data = await busy(event.currentTarget, message, () => run("RequestPasswordReset", { email }));
  if (!data) return;
  const result = data.requestPasswordReset;
  // The same words whatever the address: whether it has an account is not this page's to tell.
  if (result.__typename === "PasswordResetRequested") say(message, "forgot.sent", { email }, "success");
  else explain(message, result, "forgot");
}

// --- Second factor (R6) ---------------------------------------------------------------------------

function primaryMethods() {
  return state.methods.filter((m) => !isRecovery(m));
}

function recoveryMethod() {
  return state.methods.find((m) => isRecovery(m)) ?? null;
}

function showSecondFactor(result) {
  state.challenge = result.challenge;
  // A method this client cannot run (a passkey in a browser without WebAuthn) is left out; a recovery code
  // still signs in.
  state.methods = result.methods.filter(runsHere);
  const primary = primaryMethods();
  const options = primary.map((method, index) =>
    element(
      "p",
      { class: "check" },
      element("input", { type: "radio", name: "method", id: `method-${method.id}`, value: method.id, checked: index === 0 }),
      element("label", { for: `method-${method.id}` }, methodName(method)),
    ),
  );
  fill(byId("method-options"), ...options);
  offerRemember(result.rememberDeviceDays ?? 0);
  const first = primary[0] ?? recoveryMethod();
  if (first === null) {
    showNoMethod();
    return;
  }
  chooseMethod(first);
  quiet(byId("code-message"));
  showStep("step-second-factor", byId(answerField()));
}

// None of the user's methods can be used here (a passkey in a browser without WebAuthn, for a user who may
// use nothing else): say so instead of offering a field that cannot work.
function showNoMethod() {
  state.method = null;
  for (const id of ["method-choice", "use-recovery", "use-other", "send-area", "code-area", "code-submit"]) {
    byId(id).hidden = true;
  }
  byId("remember-area").hidden = true;
  say(byId("code-message"), "second.none", {}, "error");
  showStep("step-second-factor", byId("code-message"));
}

/** Where the user goes on: "Send code", the code field, or a passkey's button. */
function answerField() {
  if (ceremonyOf(state.method)) return "code-submit";
  return delivers(state.method) ? "send-code" : "code";
}

// R18: "remember this browser" only when the user's customers allow it, for as many days as they do
// (the smallest of their settings); never ticked in advance, a shared computer must not be remembered.
function offerRemember(days) {
  const box = byId("remember-device");
  box.checked = false;
  byId("remember-area").hidden = !(days > 0);
  translate(byId("remember-label"), "second.remember", { count: days });
}

function chooseMethod(method) {
  state.method = method;
  const recovery = isRecovery(method);
  byId("method-choice").hidden = recovery || primaryMethods().length < 2;
  byId("use-recovery").hidden = recovery || recoveryMethod() === null;
  // "Lost your device?" for an app or a key; a code that is sent (email, SMS) may simply not arrive.
  translate(byId("use-recovery"), delivers(method) ? "second.use.recovery.sent" : "second.use.recovery");
  byId("use-other").hidden = !recovery || primaryMethods().length === 0;
  byId("send-area").hidden = !delivers(method);
  // A passkey: nothing to type; the hint says what the browser asks for, the button starts it.
  const ceremony = ceremonyOf(method);
  byId("code-area").hidden = ceremony !== null;
  translate(byId("code-submit"), ceremony?.words.use ?? "second.submit");
  translate(byId("code-label"), methodKey(method, "label"));
  translate(byId("code-hint"), methodKey(method, "hint"));
  prepareCodeInput(byId("code"), method);
  quiet(byId("code-message"));
}

async function onSendCode() {
  const message = byId("code-message");
  const data = await busy(byId("code-form"), message, () =>
    run("SendLoginCode", { challenge: state.challenge, method: state.method.id }),
  );
  if (!data) return;
  const result = data.sendLoginCode;
  if (result.__typename === "CodeSent") {
    say(message, "second.sent", { sentTo: result.sentTo, expiresAt: result.expiresAt }, "success");
    byId("code").focus();
  } else if (result.__typename === "ChallengeExpired") {
    startOver("login.error.ChallengeExpired");
  } else {
    explain(message, result, "second");
  }
}

/** A passkey's answer to the login challenge: the server's options, the browser's ceremony; the JSON to
 * verify, or null after saying why not. */
async function ceremonyAnswer(form, message, ceremony) {
  const data = await busy(form, message, () =>
    run("BeginSecondFactor", { challenge: state.challenge, method: state.method.id }),
  );
  if (!data) return null;
  const begun = data.beginSecondFactor;
  if (begun.__typename === "ChallengeExpired") {
    startOver("login.error.ChallengeExpired");
    return null;
  }
  if (begun.__typename !== "SecondFactorChallenge") {
    explain(message, begun, [ceremony.words.context, "second"]);
    return null;
  }
  return ceremonyCode(ceremony, "get", begun.options, form, message);
}

async function onCode(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const message = byId("code-message");
  const ceremony = ceremonyOf(state.method);
  const code = ceremony ? await ceremonyAnswer(form, message, ceremony) : byId("code").value.trim();
  if (ceremony && !code) {
    byId("code-submit").focus();
    return;
  }
  if (!code) {
    say(message, "second.missing", {}, "error");
    byId("code").focus();
    return;
  }
  const data = await busy(form, message, () =>
    run("VerifySecondFactor", {
      challenge: state.challenge,
      method: state.method.id,
      code,
      rememberDevice: !byId("remember-area").hidden && byId("remember-device").checked,
    }),
  );
  if (!data) return;
  const result = data.verifySecondFactor;
  if (result.__typename === "LoginSuccess") {
    signedIn();
  } else if (result.__typename === "ChallengeExpired" || (result.__typename === "InvalidCode" && result.attemptsLeft === 0)) {
    // The challenge is used up: only a new password step helps.
    startOver(result.__typename === "ChallengeExpired" ? "login.error.ChallengeExpired" : "error.InvalidCode.none");
  } else {
    byId("code").value = "";
    explain(message, result, [ceremony?.words.context, "second"]);
    byId(answerField()).focus();
  }
}

// --- Conversion (R3, R4) --------------------------------------------------------------------------

function showConversion(result) {
  state.ticket = result.ticket;
  byId("conversion-email").value = result.email;
  quiet(byId("conversion-message"));
  showStep("step-conversion", byId("conversion-email"));
}

async function onConversion(event) {
  event.preventDefault();
  const message = byId("conversion-message");
  const email = byId("conversion-email").value.trim();
  if (!email) {
    say(message, "error.InvalidInput.email", {}, "error");
    byId("conversion-email").focus();
    return;
  }
  const data = await busy(event.currentTarget, message, () =>
    run("RequestConversion", { ticket: state.ticket, email }),
  );
  if (!data) return;
  const result = data.requestConversion;
  if (result.__typename === "ConversionRequested") {
    state.ticket = null;
    showCheckEmail({ sent: result });
  } else if (result.__typename === "ChallengeExpired") {
    startOver("conversion.error.ChallengeExpired");
  } else {
    explain(message, result, "conversion");
    byId("conversion-email").focus();
  }
}

// --- Check your email / re-send (R4) --------------------------------------------------------------

function showCheckEmail({ sent = null, pending = null, email = "" }) {
  const sentLine = byId("check-sent");
  byId("check-pending").hidden = pending === null;
  byId("resend-form").hidden = pending === null;
  byId("check-later").hidden = pending !== null;
  if (sent) {
    say(sentLine, invitationSentKey(sent), { sentTo: sent.sentTo, expiresAt: sent.expiresAt }, "success");
  } else {
    state.ticket = pending.ticket;
    byId("resend-email").value = email;
    say(sentLine, "check.last", { sentTo: pending.sentTo }, "info");
    quiet(byId("resend-message"));
  }
  showStep("step-check-email", pending ? byId("resend-email") : null);
}

async function onResend(event) {
  event.preventDefault();
  const message = byId("resend-message");
  const email = byId("resend-email").value.trim();
  const data = await busy(event.currentTarget, message, () =>
    run("RequestConversion", { ticket: state.ticket, email }),
  );
  if (!data) return;
  const result = data.requestConversion;
  if (result.__typename === "ConversionRequested") {
    state.ticket = null;
    byId("resend-form").hidden = true;
    byId("check-later").hidden = false;
    say(byId("check-sent"), invitationSentKey(result), { sentTo: result.sentTo, expiresAt: result.expiresAt }, "success");
    byId("check-email-heading").focus();
  } else if (result.__typename === "ChallengeExpired") {
    startOver("conversion.error.ChallengeExpired");
  } else {
    explain(message, result, "check");
    byId("resend-email").focus();
  }
}

// --- Wiring ---------------------------------------------------------------------------------------

await startPage();
byId("password-form").addEventListener("submit", onPassword);
byId("code-form").addEventListener("submit", onCode);
byId("send-code").addEventListener("click", onSendCode);
byId("method-options").addEventListener("change", (event) => {
  chooseMethod(state.methods.find((m) => m.id === event.target.value));
});
byId("use-recovery").addEventListener("click", () => {
  chooseMethod(recoveryMethod());
  byId("code").focus();
});
byId("use-other").addEventListener("click", () => {
  const checked = document.querySelector("input[name=method]:checked");
  chooseMethod(primaryMethods().find((m) => m.id === checked?.value) ?? primaryMethods()[0]);
  byId(answerField()).focus();
});
byId("conversion-form").addEventListener("submit", onConversion);
byId("resend-form").addEventListener("submit", onResend);
byId("reset-form").addEventListener("submit", onReset);
byId("forgot-form").addEventListener("submit", onForgot);
byId("forgot").addEventListener("click", (event) => {
  // In place, keeping the address typed so far; the link itself works in a new tab too.
  event.preventDefault();
  showForgot();
});
for (const button of document.querySelectorAll(".start-over")) button.addEventListener("click", () => startOver());
if (window.location.pathname === "/forgot-password") {
  showForgot();
} else if (window.location.pathname !== "/reset-password") {
  // Signing in for an invitation: its address is the account to sign in to.
  byId("login-for-invitation").hidden = invitation === null;
  if (invitation) byId("email").value = fragment.get("email") ?? "";
  showStep("step-password", byId(byId("email").value ? "password" : "email"));
} else {
  translate(document.querySelector("title"), "reset.title");
  if (resetToken) showStep("step-reset", byId("reset-password"));
  else startOver("reset.invalid.missing");
}
