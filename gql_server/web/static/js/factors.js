// The account page's second factors (R15): listed with the names the user gave them; added (the same
// proof as enrolling, R5), renamed and removed (never the last one, R9) behind the step-up dialog (R14).

import { run } from "./api.js";
import { translate } from "./i18n.js";
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
import { reloadSessions } from "./security.js";
import { CANCELLED, runStepped } from "./stepup.js";
import { ask, busy, byId, element, explain, fill, quiet, say } from "./ui.js";

const state = { viewer: null, manage: false, enrollment: null, method: null, methods: null, options: null };

function leave() {
  window.location.replace("/login");
}

function explainStepped(message, result, context) {
  if (result === CANCELLED) say(message, "stepup.cancelled", {}, "info");
  else explain(message, result, context);
}

// --- The list ----------------------------------------------------------------------------------------

function factorName(factor) {
  return factor.label ? element("span", { text: factor.label }) : methodName(factor.method);
}

function factorItem(factor, index) {
  const name = element("strong", { id: `factor-${index}` }, factorName(factor));
  const item = element("li", {}, name);
  if (factor.label) item.append(element("span", { class: "hint" }, methodName(factor.method)));
  // Its method cannot work here now (e.g. SMS without a gateway): kept, but not offered at sign-in.
  if (factor.usable === false) item.append(element("span", { class: "hint", i18n: "account.factor.unusable" }));
  item.append(
    element("span", {
      class: "hint detail",
      i18n: factor.lastUsedAt ? "account.factor.used" : "account.factor.added",
      vars: { createdAt: factor.createdAt, lastUsedAt: factor.lastUsedAt },
    }),
  );
  if (state.manage) {
    const rename = element("button", { type: "button", class: "link-button", i18n: "factors.rename", "aria-describedby": name.id });
    const remove = element("button", { type: "button", class: "link-button", i18n: "factors.remove", "aria-describedby": name.id });
    rename.addEventListener("click", () => showRename(item, factor, index));
    remove.addEventListener("click", () => onRemove(factor));
    item.append(element("span", { class: "item-actions" }, rename, remove));
  }
  return item;
}

function showList(factors) {
  if (factors.length === 0) fill(byId("factors"), element("li", { i18n: "account.factors.none" }));
  else fill(byId("factors"), ...factors.map(factorItem));
}

/** Load the factors again (after a change). */
async function reload() {
  const data = await run("Viewer");
  if (!data.viewer) return leave();
  state.viewer = data.viewer;
  showList(data.viewer.user.secondFactors);
}

/** Show the factors of `viewer` (the Viewer query's), with what the user may do with them. */
export function showFactors(viewer) {
  state.viewer = viewer;
  // A password user converts instead (R8); a restricted session sees no factors to manage (R10).
  state.manage = viewer.requirement !== "CONVERSION" && viewer.user.loginMethod === "TWO_FACTOR";
  showList(viewer.user.secondFactors);
  byId("add-factor").hidden = !state.manage;
}

// --- Rename ------------------------------------------------------------------------------------------

function showRename(item, factor, index) {
  item.querySelector("form.rename")?.remove();
  const id = `rename-${index}`;
  const input = element("input", { id, type: "text", autocomplete: "off", maxlength: 64, value: factor.label ?? "" });
  const message = element("p", { class: "message", "aria-live": "polite" });
  const cancel = element("button", { type: "button", class: "secondary", i18n: "confirm.cancel" });
  const form = element(
    "form",
    { class: "rename", method: "post", novalidate: true },
    element("label", { for: id, i18n: "factors.rename.label" }),
    input,
    message,
    element("p", { class: "actions" }, element("button", { type: "submit", i18n: "factors.rename.save" }), cancel),
  );
  cancel.addEventListener("click", () => form.remove());
  form.addEventListener("submit", (event) => onRename(event, factor, input, message));
  item.append(form);
  input.focus();
}

async function onRename(event, factor, input, message) {
  event.preventDefault();
  const label = input.value.trim();
  if (!label) {
    say(message, "factors.rename.missing", {}, "error");
    input.focus();
    return;
  }
  const result = await busy(event.currentTarget, message, () =>
    runStepped("RenameFactor", { id: factor.id, label }, "renameFactor"),
  );
  if (!result) return;
  if (result.__typename === "FactorUpdated") {
    await reload();
    say(byId("factors-message"), "factors.renamed", { label }, "success");
  } else if (result.__typename === "AuthenticationRequired") {
    leave();
  } else {
    explainStepped(message, result, "factors");
    input.focus();
  }
}

// --- Remove ------------------------------------------------------------------------------------------

async function onRemove(factor) {
  const message = byId("factors-message");
  const name = factor.label ?? methodName(factor.method).textContent;
  if (!(await ask("factors.remove.confirm", "factors.remove", { name }))) return;
  const result = await busy(byId("factors"), message, () =>
    runStepped("RemoveFactor", { id: factor.id }, "removeFactor"),
  );
  if (!result) return;
  if (result.__typename === "FactorUpdated") {
    await reload();
    // S18: removing a factor ends the user's other sessions.
    say(message, "factors.removed", { name }, "success");
    await busy(byId("sessions-area"), byId("sessions-message"), reloadSessions);
  } else if (result.__typename === "AuthenticationRequired") {
    leave();
  } else {
    explainStepped(message, result, "factors");
  }
}

// --- Add ---------------------------------------------------------------------------------------------

async function enrollableMethods() {
  if (!state.methods) {
    const data = await run("SecondFactorMethods");
    state.methods = data.secondFactorMethods
      .filter((method) => method.enrollable)
      // What this client can run, the recommended first, as on the invitation page (their capabilities say).
      .filter(runsHere)
      .sort(recommendedFirst);
  }
  return state.methods;
}

async function onAdd() {
  const message = byId("add-choose-message");
  quiet(byId("factors-message"));
  const methods = await busy(byId("factors").parentElement, byId("factors-message"), enrollableMethods);
  if (!methods) return;
  const options = methods.map((method, index) =>
    element(
      "p",
      { class: "check" },
      element("input", { type: "radio", name: "add-method", id: `add-method-${method.id}`, value: method.id, checked: index === 0 }),
      element("label", { for: `add-method-${method.id}` }, methodName(method)),
    ),
  );
  fill(byId("add-method-options"), ...options);
  onAddMethodChange();
  quiet(message);
  byId("add-choose-form").hidden = false;
  byId("add-enroll").hidden = true;
  byId("add-factor").hidden = true;
  byId("add-factor-panel").hidden = false;
  byId("add-factor-heading").focus();
}

function onAddMethodChange() {
  const checked = document.querySelector("input[name=add-method]:checked");
  byId("add-phone-area").hidden = !asksForPhone(state.methods.find((m) => m.id === checked?.value));
}

function closeAdd() {
  state.enrollment = null;
  state.options = null;
  byId("add-code").value = "";
  byId("add-label").value = "";
  byId("add-factor-panel").hidden = true;
  byId("add-factor").hidden = !state.manage;
  byId("add-factor").focus();
}

async function onChoose(event) {
  event.preventDefault();
  const message = byId("add-choose-message");
  const checked = document.querySelector("input[name=add-method]:checked");
  const method = state.methods.find((m) => m.id === checked?.value);
  if (!method) {
    say(message, "invitation.choose.missing", {}, "error");
    return;
  }
  // Methods that text a code need a number to text it to.
  const phoneNumber = asksForPhone(method) ? byId("add-phone").value.trim() : null;
  // Adding a factor needs a recent second factor (R14): the step-up dialog first when it is older.
  const result = await busy(event.currentTarget, message, () =>
    runStepped("AddFactor", { method: method.id, phoneNumber }, "addFactor"),
  );
  if (!result) return;
  if (result.__typename !== "EnrollmentStarted") {
    explainStepped(message, result, "factors");
    if (result.field === "phoneNumber") byId("add-phone").focus();
    return;
  }
  state.enrollment = result.enrollment;
  state.method = method;
  // A method answered by the browser (a passkey): the options its ceremony takes; nothing to type.
  state.options = result.options ?? null;
  const ceremony = ceremonyOf(method);
  const showsSecret = Boolean(result.secret);
  byId("add-secret-area").hidden = !showsSecret;
  byId("add-sent-to").hidden = showsSecret || ceremony !== null;
  byId("add-code-area").hidden = ceremony !== null;
  byId("add-ceremony-hint").hidden = ceremony === null;
  if (ceremony) translate(byId("add-ceremony-hint"), ceremony.words.enrollHint);
  translate(byId("add-confirm-submit"), ceremony?.words.enroll ?? "factors.add.submit");
  if (showsSecret) {
    byId("add-qr").src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(result.qrCodeSvg)}`;
    byId("add-secret").textContent = result.secret.match(/.{1,4}/g).join(" ");
    byId("add-open-app").href = result.provisioningUri;
  } else if (!ceremony) {
    // The code's own expiry (10 minutes), not the enrollment's (15).
    const expiresAt = result.codeExpiresAt ?? result.expiresAt;
    translate(byId("add-sent-to"), "invitation.sent", { sentTo: result.sentTo ?? "", expiresAt });
  }
  translate(byId("add-code-label"), methodKey(method, "label"));
  prepareCodeInput(byId("add-code"), method);
  quiet(byId("add-confirm-message"));
  byId("add-choose-form").hidden = true;
  byId("add-enroll").hidden = false;
  byId(showsSecret || ceremony || !delivers(method) ? "add-factor-heading" : "add-code").focus();
}

/** Where the answer is given: the code field, or a passkey's button. */
function answerField() {
  return ceremonyOf(state.method) ? "add-confirm-submit" : "add-code";
}

async function onConfirm(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const message = byId("add-confirm-message");
  const ceremony = ceremonyOf(state.method);
  let code = ceremony ? null : byId("add-code").value.trim();
  const label = byId("add-label").value.trim() || null;
  if (ceremony) {
    // The browser makes the passkey; its credential (JSON) is the answer to confirm.
    code = await ceremonyCode(ceremony, "create", state.options, form, message);
    if (!code) {
      byId("add-confirm-submit").focus();
      return;
    }
  } else if (!code) {
    say(message, "second.missing", {}, "error");
    byId("add-code").focus();
    return;
  }
  const result = await busy(form, message, () =>
    runStepped("ConfirmFactor", { enrollment: state.enrollment, code, label }, "confirmFactor"),
  );
  if (!result) return;
  if (result.__typename === "FactorAdded") {
    closeAdd();
    await reload();
    say(byId("factors-message"), "factors.added", {}, "success");
  } else if (result.__typename === "ChallengeExpired" || (result.__typename === "InvalidCode" && result.attemptsLeft === 0)) {
    // This enrollment is over; choose again for a new one.
    await onAdd();
    explain(byId("add-choose-message"), result, "enroll");
  } else {
    if (result.__typename === "InvalidCode") byId("add-code").value = "";
    explainStepped(message, result, [ceremony?.words.context, "factors"]);
    byId(answerField()).focus();
  }
}

byId("add-factor").addEventListener("click", onAdd);
byId("add-choose-form").addEventListener("submit", onChoose);
byId("add-method-options").addEventListener("change", onAddMethodChange);
byId("add-confirm-form").addEventListener("submit", onConfirm);
for (const button of document.querySelectorAll(".add-cancel")) button.addEventListener("click", closeAdd);
