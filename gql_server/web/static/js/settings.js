// /customers/{id}/settings: a customer admin's enforcement switch with its impact preview (R11) and
// a confirmation, the methods the customer's users may enroll (R1), and how many days a browser may
// skip the second factor after "remember this browser" (R18), and whether its administrators must use
// phishing-resistant methods (issue 16: refused while one of them has no passkey).

import { linkCustomerPages } from "./admin.js";
import { run } from "./api.js";
import { translate } from "./i18n.js";
import { methodName } from "./methods.js";
import { busy, byId, element, explain, explainError, fill, quiet, say, showStep, startPage } from "./ui.js";

const customerId = decodeURIComponent(window.location.pathname.split("/")[2] ?? "");
const state = { viewer: null, customer: null, impact: null, methods: [] };

function stop(key) {
  say(byId("page-message"), key, {}, "error");
  byId("settings").hidden = true;
}

async function load() {
  linkCustomerPages(customerId);
  const message = byId("page-message");
  let viewerData;
  try {
    viewerData = await run("Viewer");
  } catch (error) {
    explainError(message, error);
    return;
  }
  if (!viewerData.viewer) {
    window.location.replace("/login");
    return;
  }
  state.viewer = viewerData.viewer;
  const membership = state.viewer.user.memberships.find((m) => m.customer.id === customerId);
  if (!membership) return stop("settings.not.found");
  if (membership.level !== "CUSTOMER") return stop("settings.not.admin");
  // R10: a password session of someone who must convert reads nothing but the viewer.
  if (state.viewer.requirement === "CONVERSION") return stop("settings.convert.first");
  try {
    const [customer, impact, methods] = await Promise.all([
      run("Customer", { id: customerId }),
      run("EnforcementImpact", { id: customerId }),
      run("SecondFactorMethods"),
    ]);
    if (!customer.customer) return stop("settings.not.found");
    state.customer = customer.customer;
    state.impact = impact.customer.enforcementImpact;
    state.methods = methods.secondFactorMethods.filter((m) => m.enrollable);
  } catch (error) {
    explainError(message, error);
    return;
  }
  quiet(message);
  showSettings();
  showImpact();
  showStep("settings");
}

function showSettings() {
  const { name, settings } = state.customer;
  translate(byId("settings-heading"), "settings.heading", { name });
  byId("enforce").checked = settings.enforceTwoFactor;
  byId("phishing-resistant").checked = settings.requirePhishingResistantAdmins;
  const allowed = new Set(settings.allowedMethods);
  const options = state.methods.map((method) =>
    element(
      "p",
      { class: "check" },
      element("input", {
        type: "checkbox",
        name: "allowed",
        id: `allow-${method.id}`,
        value: method.id,
        checked: allowed.has(method.id),
      }),
      element("label", { for: `allow-${method.id}` }, methodName(method)),
    ),
  );
  fill(byId("method-options"), ...options);
  byId("remember-days").value = String(settings.rememberDeviceDays);
}

// The days field as a whole number, or null when it is not one; the range is the server's to judge
// (InvalidInput on rememberDeviceDays), the browser only keeps "7.5" and "" from being sent.
function rememberDays() {
  const text = byId("remember-days").value.trim();
  return /^\d+$/.test(text) ? Number(text) : null;
}

function userItem(user) {
  return element(
    "li",
    {},
    element("span", { text: user.email }),
    element("span", { class: "hint", i18n: `conversion.state.${user.conversion}` }),
  );
}

function showImpact() {
  const impact = state.impact;
  const enforced = state.customer.settings.enforceTwoFactor;
  translate(byId("impact-summary"), enforced ? "impact.summary.on" : "impact.summary.off", {
    count: impact.notStarted,
  });
  translate(byId("impact-detail"), "impact.detail", {
    totalUsers: impact.totalUsers,
    converted: impact.converted,
    pending: impact.pending,
  });
  fill(byId("impact-users"), ...impact.usersToConvert.map(userItem));
}

// The confirmation names the consequences (R11) before anything changes; resolves to true to go on.
function confirmChange(enforce) {
  const dialog = byId("confirm");
  const users = state.impact.usersToConvert;
  translate(byId("confirm-heading"), enforce ? "confirm.on.heading" : "confirm.off.heading");
  translate(byId("confirm-text"), enforce ? "confirm.on.text" : "confirm.off.text", { count: users.length });
  translate(byId("confirm-ok"), enforce ? "confirm.on.ok" : "confirm.off.ok");
  fill(byId("confirm-users"), ...(enforce ? users.map(userItem) : []));
  byId("confirm-self").hidden = !(enforce && state.viewer.user.loginMethod === "PASSWORD");
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    // The safe choice has the focus; confirming is a deliberate move.
    byId("confirm-cancel").focus();
  });
}

async function onSave(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const message = byId("settings-message");
  const enforce = byId("enforce").checked;
  const allowedMethods = [...document.querySelectorAll("input[name=allowed]:checked")].map((input) => input.value);
  if (allowedMethods.length === 0) {
    say(message, "error.InvalidInput.allowedMethods", {}, "error");
    return;
  }
  const days = rememberDays();
  if (days === null) {
    say(message, "error.InvalidInput.rememberDeviceDays", {}, "error");
    byId("remember-days").focus();
    return;
  }
  const input = {};
  if (days !== state.customer.settings.rememberDeviceDays) input.rememberDeviceDays = days;
  // Sent only when changed: a customer that never chose keeps "every installed method", new plugins included.
  const before = [...state.customer.settings.allowedMethods].sort();
  if (JSON.stringify([...allowedMethods].sort()) !== JSON.stringify(before)) input.allowedMethods = allowedMethods;
  const phishingResistant = byId("phishing-resistant").checked;
  if (phishingResistant !== state.customer.settings.requirePhishingResistantAdmins) {
    input.requirePhishingResistantAdmins = phishingResistant;
  }
  if (enforce !== state.customer.settings.enforceTwoFactor) {
    if (!(await confirmChange(enforce))) {
      say(message, "settings.cancelled", {}, "info");
      byId("enforce").focus();
      return;
    }
    input.enforceTwoFactor = enforce;
  }
  if (Object.keys(input).length === 0) {
    say(message, "settings.unchanged", {}, "info");
    return;
  }
  const data = await busy(form, message, () => run("UpdateCustomerSettings", { customerId, input }));
  if (!data) return;
  const result = data.updateCustomerSettings;
  if (result.__typename !== "CustomerSettingsUpdated") {
    explain(message, result, "settings");
    if (result.__typename === "InvalidInput" && result.field === "rememberDeviceDays") byId("remember-days").focus();
    if (result.__typename === "InvalidInput" && result.field === "requirePhishingResistantAdmins") {
      // Refused while an administrator has no passkey: the switch shows what is in force.
      byId("phishing-resistant").checked = state.customer.settings.requirePhishingResistantAdmins;
      byId("phishing-resistant").focus();
    }
    return;
  }
  state.customer.settings = result.customer.settings;
  byId("remember-days").value = String(result.customer.settings.rememberDeviceDays);
  byId("phishing-resistant").checked = result.customer.settings.requirePhishingResistantAdmins;
  const saved = !("enforceTwoFactor" in input)
    ? "settings.saved"
    : result.customer.settings.enforceTwoFactor
      ? "settings.saved.on"
      : "settings.saved.off";
  say(message, saved, {}, "success");
  await afterSave();
}

// Enforcement applies at once, to the admin too (R2, R10): a password admin must now convert.
async function afterSave() {
  try {
    const data = await run("Viewer");
    if (data.viewer?.requirement === "CONVERSION") {
      window.location.assign("/account");
      return;
    }
    const impact = await run("EnforcementImpact", { id: customerId });
    state.impact = impact.customer.enforcementImpact;
    showImpact();
  } catch (error) {
    explainError(byId("settings-message"), error);
  }
}

await startPage();
byId("settings-form").addEventListener("submit", onSave);
await load();
