// /account: who is signed in, their second factors and customers, conversion when due, the Security
// section (security.js: recovery codes, sessions, password, email, language), sign out.

import { run } from "./api.js";
import { translate } from "./i18n.js";
import { showFactors } from "./factors.js";
import { chooseLanguage, showSecurity } from "./security.js";
import { busy, byId, element, explain, explainError, fill, invitationSentKey, say, showStep, startPage } from "./ui.js";

let viewer = null;

function showFacts() {
  const { user, session } = viewer;
  byId("account-email").textContent = user.email;
  translate(byId("account-method"), `loginMethod.${user.loginMethod}`);
  translate(byId("account-session"), `assurance.${session.assurance}`, { expiresAt: session.expiresAt });
}

// R8 (voluntary), R10 (required now) and a conversion left pending: all continue by email.
function showConversion() {
  const { user, requirement } = viewer;
  const panel = byId("conversion");
  panel.hidden = user.loginMethod !== "PASSWORD";
  if (panel.hidden) return;
  let why = "account.conversion.voluntary";
  if (user.conversion === "PENDING") why = "account.conversion.pending";
  else if (requirement === "CONVERSION") why = "account.conversion.required";
  translate(byId("conversion-why"), why);
  translate(byId("conversion-submit"), user.conversion === "PENDING" ? "check.resend" : "conversion.submit");
  byId("conversion-email").value = user.email;
  panel.classList.toggle("attention", requirement === "CONVERSION");
}

function showCustomers() {
  const memberships = viewer.user.memberships;
  if (memberships.length === 0) {
    fill(byId("customers"), element("li", { i18n: "account.customers.none" }));
    return;
  }
  const items = memberships.map(({ level, customer }) => {
    const item = element(
      "li",
      {},
      element("strong", { text: customer.name }),
      element("span", { class: "hint", i18n: `level.${level}` }),
    );
    if (level === "CUSTOMER") {
      const href = `/customers/${encodeURIComponent(customer.id)}/settings`;
      item.append(element("a", { href, i18n: "account.settings.link", vars: { name: customer.name } }));
    }
    return item;
  });
  fill(byId("customers"), ...items);
}

async function load() {
  let data;
  try {
    data = await run("Viewer");
  } catch (error) {
    explainError(byId("page-message"), error);
    return;
  }
  if (!data.viewer) {
    window.location.replace("/login");
    return;
  }
  viewer = data.viewer;
  showFacts();
  showConversion();
  showCustomers();
  try {
    await showSecurity(viewer);
    await showFactors(viewer);
  } catch (error) {
    explainError(byId("page-message"), error);
  }
  showStep("account");
}

async function onConversion(event) {
  event.preventDefault();
  const message = byId("conversion-message");
  const email = byId("conversion-email").value.trim();
  const data = await busy(event.currentTarget, message, () => run("StartConversion", { email }));
  if (!data) return;
  const result = data.startConversion;
  if (result.__typename === "ConversionRequested") {
    say(message, invitationSentKey(result), { sentTo: result.sentTo, expiresAt: result.expiresAt }, "success");
    translate(byId("conversion-submit"), "check.resend");
    translate(byId("conversion-why"), "account.conversion.pending");
  } else if (result.__typename === "AuthenticationRequired") {
    window.location.replace("/login");
  } else {
    explain(message, result, "account");
    byId("conversion-email").focus();
  }
}

async function onLogout() {
  const message = byId("page-message");
  const done = await busy(byId("account"), message, () => run("Logout"));
  if (done !== undefined) window.location.assign("/login");
}

await startPage(chooseLanguage);
byId("conversion-form").addEventListener("submit", onConversion);
byId("logout").addEventListener("click", onLogout);
await load();
