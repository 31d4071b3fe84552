// The account page's Security section: recovery codes (R15), sessions (R17), remembered browsers (R18),
// the password (R16), the email address (R13) and the language (R13).
//
// Changes that need a recent second factor go through the step-up dialog (stepup.js).

import { run } from "./api.js";
import { chosenHere, language, switchLanguage, translate, useLanguage } from "./i18n.js";
import { showRecoveryCodes } from "./recovery.js";
import { CANCELLED, runStepped } from "./stepup.js";
import { ask, busy, byId, element, explain, explainError, fill, quiet, say } from "./ui.js";

let viewer = null;
// Whether this session may change the profile (not restricted by enforcement, R10).
let active = false;

/** "Chrome on Linux" from a User-Agent; null when it says nothing recognisable. */
export function browserName(userAgent) {
  if (!userAgent) return null;
  const browsers = [
    [/Edg\//, "Edge"],
    [/Firefox\//, "Firefox"],
    [/OPR\//, "Opera"],
    [/Chrom(e|ium)\//, "Chrome"],
    [/Safari\//, "Safari"],
  ];
  const systems = [
    [/Android/, "Android"],
    [/iPhone|iPad|iPod/, "iOS"],
    [/Windows/, "Windows"],
    [/Mac OS X|Macintosh/, "macOS"],
    [/CrOS/, "ChromeOS"],
    [/Linux/, "Linux"],
  ];
  const browser = browsers.find(([pattern]) => pattern.test(userAgent))?.[1];
  const system = systems.find(([pattern]) => pattern.test(userAgent))?.[1];
  if (browser && system) return `${browser} · ${system}`;
  return browser ?? system ?? null;
}

function deviceName(userAgent) {
  const name = browserName(userAgent);
  const attributes = name ? { text: name } : { i18n: "sessions.unknown" };
  return element("strong", { ...attributes, title: userAgent ?? null });
}

function leave() {
  window.location.replace("/login");
}

// --- Recovery codes (R15) ----------------------------------------------------------------------------

function showCodesLeft(count) {
  translate(byId("codes-left"), "codes.left", { count });
}

async function onNewCodes() {
  const message = byId("codes-message");
  if (!(await ask("codes.confirm", "codes.new"))) return;
  const result = await busy(byId("codes-area"), message, () =>
    runStepped("RegenerateRecoveryCodes", {}, "regenerateRecoveryCodes"),
  );
  if (!result) return;
  if (result.__typename === "RecoveryCodesReplaced") {
    quiet(message);
    showRecoveryCodes(result.recoveryCodes, viewer.user.email, "codes.replaced");
  } else if (result.__typename === "AuthenticationRequired") {
    leave();
  } else {
    explainStepped(message, result, "codes");
  }
}

/** Explain an answer of runStepped, the closed dialog included. */
function explainStepped(message, result, context) {
  if (result === CANCELLED) say(message, "stepup.cancelled", {}, "info");
  else explain(message, result, context);
}

// --- Sessions (R17) ----------------------------------------------------------------------------------

function sessionItem(session, index) {
  const name = deviceName(session.userAgent);
  name.id = `session-${index}`;
  const item = element("li", {}, name);
  if (session.current) item.append(element("span", { class: "badge", i18n: "sessions.current" }));
  item.append(
    element("span", {
      class: "hint detail",
      i18n: session.ipAddress ? "sessions.detail" : "sessions.detail.noaddress",
      vars: { createdAt: session.createdAt, lastSeenAt: session.lastSeenAt, ipAddress: session.ipAddress },
    }),
  );
  if (!session.current) {
    const end = element("button", {
      type: "button",
      class: "link-button end-session",
      i18n: "sessions.end",
      "aria-describedby": name.id,
    });
    end.addEventListener("click", () => onEndSession(session.id));
    item.append(end);
  }
  return item;
}

function showSessions(sessions) {
  fill(byId("sessions"), ...sessions.map(sessionItem));
  byId("end-others").hidden = sessions.length < 2;
}

/** Load the live sessions again (after ending some, or a change that ends the others). */
export async function reloadSessions() {
  const data = await run("Sessions");
  if (data.viewer) showSessions(data.viewer.sessions);
}

async function onEndSession(id) {
  const message = byId("sessions-message");
  const data = await busy(byId("sessions-area"), message, () => run("EndSession", { id }));
  if (!data) return;
  say(message, data.endSession ? "sessions.ended" : "sessions.gone", {}, data.endSession ? "success" : "info");
  await busy(byId("sessions-area"), message, reloadSessions);
}

async function onEndOthers() {
  const message = byId("sessions-message");
  const data = await busy(byId("sessions-area"), message, () => run("EndOtherSessions"));
  if (data === undefined) return;
  say(message, "sessions.ended.others", { count: data.endOtherSessions }, "success");
  await busy(byId("sessions-area"), message, reloadSessions);
}

// --- Remembered browsers (R18) -----------------------------------------------------------------------

function deviceItem(device, index) {
  const name = deviceName(device.userAgent);
  name.id = `device-${index}`;
  const forget = element("button", {
    type: "button",
    class: "link-button",
    i18n: "devices.forget",
    "aria-describedby": name.id,
  });
  forget.addEventListener("click", () => onForget(device.id));
  return element(
    "li",
    {},
    name,
    element("span", {
      class: "hint detail",
      i18n: device.lastUsedAt ? "devices.detail.used" : "devices.detail",
      vars: { createdAt: device.createdAt, lastUsedAt: device.lastUsedAt, expiresAt: device.expiresAt },
    }),
    forget,
  );
}

async function loadDevices() {
  byId("devices-area").hidden = false;
  let data;
  try {
    data = await run("RememberedDevices");
  } catch (error) {
    explainError(byId("devices-message"), error);
    return;
  }
  if (!data.viewer) return;
  const devices = data.viewer.rememberedDevices;
  if (devices.length === 0) fill(byId("devices"), element("li", { i18n: "devices.none" }));
  else fill(byId("devices"), ...devices.map(deviceItem));
}

async function onForget(id) {
  const message = byId("devices-message");
  const data = await busy(byId("devices-area"), message, () => run("ForgetDevice", { id }));
  if (data === undefined) return;
  say(message, data.forgetDevice ? "devices.forgotten" : "sessions.gone", {}, data.forgetDevice ? "success" : "info");
  await loadDevices();
}

// --- Password (R16) ----------------------------------------------------------------------------------

async function onPassword(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const message = byId("password-message");
  const currentPassword = byId("current-password").value;
  const newPassword = byId("new-password").value;
  if (!currentPassword || !newPassword) {
    say(message, "password.missing", {}, "error");
    byId(currentPassword ? "new-password" : "current-password").focus();
    return;
  }
  if (newPassword !== byId("new-password-again").value) {
    say(message, "invitation.password.mismatch", {}, "error");
    byId("new-password-again").focus();
    return;
  }
  const result = await busy(form, message, () =>
    runStepped("ChangePassword", { currentPassword, newPassword }, "changePassword"),
  );
  if (!result) return;
  if (result.__typename === "PasswordChanged") {
    form.reset();
    byId("password-username").value = viewer.user.email;
    say(message, "password.changed", {}, "success");
    await busy(byId("sessions-area"), byId("sessions-message"), reloadSessions);
  } else if (result.__typename === "AuthenticationRequired") {
    leave();
  } else {
    explainStepped(message, result, "password");
    if (result.__typename === "InvalidCredentials") byId("current-password").focus();
    else if (result.__typename === "InvalidInput") byId("new-password").focus();
  }
}

// --- Email address (R13) -----------------------------------------------------------------------------

async function onEmail(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const message = byId("email-message");
  const newEmail = byId("new-email").value.trim();
  if (!newEmail) {
    say(message, "error.InvalidInput.email", {}, "error");
    byId("new-email").focus();
    return;
  }
  const result = await busy(form, message, () =>
    runStepped("RequestEmailChange", { newEmail }, "requestEmailChange"),
  );
  if (!result) return;
  if (result.__typename === "EmailChangeRequested") {
    say(message, "email.sent", { sentTo: result.sentTo, expiresAt: result.expiresAt }, "success");
  } else if (result.__typename === "AuthenticationRequired") {
    leave();
  } else {
    explainStepped(message, result, "email");
    byId("new-email").focus();
  }
}

// --- Language (R13) ----------------------------------------------------------------------------------

/**
 * The user chose a language (the select, or the header's button on this page): save it as theirs, for
 * their emails too, and show the page in it. A restricted session only switches the page.
 */
export async function chooseLanguage(chosen) {
  if (!active) {
    await switchLanguage(chosen);
    return;
  }
  const message = byId("locale-message");
  const data = await busy(byId("locale-area"), message, () => run("UpdateProfile", { locale: chosen }));
  if (!data) {
    byId("locale").value = language();
    return;
  }
  const result = data.updateProfile;
  if (result.__typename === "ProfileUpdated") {
    await switchLanguage(result.user.locale);
    byId("locale").value = result.user.locale;
    say(message, "locale.saved", {}, "success");
  } else if (result.__typename === "AuthenticationRequired") {
    leave();
  } else {
    byId("locale").value = language();
    explain(message, result, "locale");
  }
}

// --- Loading -----------------------------------------------------------------------------------------

/** Show the section for `loaded` (the Viewer query's viewer); hidden for a session restricted by R10. */
export async function showSecurity(loaded) {
  viewer = loaded;
  active = viewer.requirement !== "CONVERSION";
  byId("security").hidden = !active;
  if (!active) return;
  const twoFactor = viewer.user.loginMethod === "TWO_FACTOR";
  byId("codes-area").hidden = !twoFactor;
  // R14, R8: a password user's address changes by converting (the panel above), not here.
  byId("email-area").hidden = !twoFactor;
  byId("password-username").value = viewer.user.email;
  const data = await run("Security");
  const security = data.viewer;
  if (!security) return;
  showCodesLeft(security.recoveryCodesLeft);
  showSessions(security.sessions);
  byId("locale").value = security.user.locale;
  // The page speaks the account's language (R13), unless a language was chosen in this browser.
  if (!chosenHere() && security.user.locale !== language()) await useLanguage(security.user.locale);
  if (twoFactor) await loadDevices();
}

byId("new-codes").addEventListener("click", onNewCodes);
byId("end-others").addEventListener("click", onEndOthers);
byId("password-form").addEventListener("submit", onPassword);
byId("email-form").addEventListener("submit", onEmail);
byId("locale").addEventListener("change", (event) => chooseLanguage(event.target.value));
