// /customers/{id}/members: the customer's members for its admins (R19): the list with its filters, a page
// at a time, and what an admin may do: invite someone (a new address gets an account, an existing account
// an invitation to join), re-send a pending member's invitation, change a level, remove a member (never
// the last administrator: LastAdministrator), and send a password member a reset link.

import { adminViewer, customerIdFromPath, linkCustomerPages } from "./admin.js";
import { run } from "./api.js";
import { language, translate } from "./i18n.js";
import { busy, byId, element, explain, explainError, fill, quiet, say, sayText, showStep, startPage } from "./ui.js";

const customerId = customerIdFromPath();
const PAGE_SIZE = 25;
const state = { viewer: null, customer: null, filter: {}, after: null, shown: 0 };

async function load() {
  linkCustomerPages(customerId);
  const admin = await adminViewer(customerId);
  if (!admin) return;
  state.viewer = admin.viewer;
  let data;
  try {
    data = await run("Customer", { id: customerId });
  } catch (error) {
    explainError(byId("page-message"), error);
    return;
  }
  if (!data.customer) return say(byId("page-message"), "settings.not.found", {}, "error");
  state.customer = data.customer;
  translate(byId("members-heading"), "members.heading", { name: state.customer.name });
  prepareInvite();
  showStep("members");
  await showPage(false);
}

// --- The list ----------------------------------------------------------------------------------------

function line(key, vars = {}) {
  return element("span", { class: "detail", i18n: key, vars });
}

function memberItem(member) {
  const { user } = member;
  const you = user.id === state.viewer.user.id;
  const item = element(
    "li",
    { "data-user": user.id },
    element("strong", { text: user.email }),
    you ? element("span", { class: "badge", i18n: "members.you" }) : "",
    // acceptedAt null: an existing account invited to join, not a member until it accepts (R19).
    member.acceptedAt ? "" : element("span", { class: "badge pending", i18n: "members.invited" }),
    element("span", { class: "item-actions" }, ...actions(member)),
  );
  item.append(
    line("members.facts", {
      level: translateKey(`level.${member.level}`),
      method: translateKey(`loginMethod.${user.loginMethod}`),
      conversion: translateKey(`members.conversion.${user.conversion}`),
    }),
  );
  if (member.pendingInvitationSentTo) item.append(line("members.pending", { sentTo: member.pendingInvitationSentTo }));
  item.append(line(user.lastLoginAt ? "members.last.login" : "members.never", { lastLoginAt: user.lastLoginAt }));
  if (!member.acceptedAt) item.append(line("members.added.invited", { addedAt: member.addedAt }));
  else if (member.acceptedAt !== member.addedAt) {
    item.append(line("members.added.accepted", { addedAt: member.addedAt, acceptedAt: member.acceptedAt }));
  } else item.append(line("members.added", { addedAt: member.addedAt }));
  return item;
}

// A string inside a sentence, rendered in the language of the sentence (i18n.js formatValue).
function translateKey(key) {
  return { key };
}

function actionButton(key, onClick, vars = {}) {
  const button = element("button", { type: "button", class: "link-button", i18n: key, vars });
  button.addEventListener("click", onClick);
  return button;
}

function actions(member) {
  const { user } = member;
  const list = [actionButton("members.level.change", () => changeLevel(member), { email: user.email })];
  // R19: a PENDING conversion's invitation can be sent again, to the address the conversion started with;
  // so can an invitation to join that is not accepted yet.
  if (user.conversion === "PENDING" || !member.acceptedAt) list.push(actionButton("members.resend", () => resend(member)));
  // R9, R19: only a password member's password is an admin's to help with.
  if (user.loginMethod === "PASSWORD" && member.acceptedAt) {
    list.push(actionButton("members.reset", () => sendReset(member)));
  }
  list.push(actionButton("members.remove", () => remove(member)));
  return list;
}

function filterFromForm() {
  const filter = {};
  const conversion = byId("filter-conversion").value;
  const method = byId("filter-method").value;
  const level = byId("filter-level").value;
  const email = byId("filter-email").value.trim();
  if (conversion) filter.conversion = conversion;
  if (method) filter.loginMethod = method;
  if (level) filter.level = level;
  if (email) filter.emailContains = email;
  return filter;
}

/** The first page for the current filters, or (more) the next one under those already shown. */
async function showPage(more) {
  const message = byId("list-message");
  const variables = { customerId, first: PAGE_SIZE, filter: state.filter };
  if (more) variables.after = state.after;
  const data = await busy(byId("member-filter"), message, () => run("Members", variables));
  if (!data) return;
  const page = data.customer?.members;
  if (!page) return say(message, "admin.not.admin", {}, "error");
  quiet(message);
  const items = page.edges.map((edge) => memberItem(edge.node));
  if (more) byId("member-list").append(...items);
  else fill(byId("member-list"), ...items);
  state.shown = (more ? state.shown : 0) + items.length;
  state.after = page.pageInfo.endCursor;
  byId("load-more").hidden = !page.pageInfo.hasNextPage;
  const filtered = Object.keys(state.filter).length > 0;
  if (page.totalCount === 0) translate(byId("member-count"), filtered ? "members.none.filtered" : "members.none");
  else translate(byId("member-count"), "members.count", { count: page.totalCount, shown: state.shown });
  if (more && items.length > 0) {
    items[0].tabIndex = -1;
    items[0].focus();
  }
}

async function onFilter(event) {
  event.preventDefault();
  state.filter = filterFromForm();
  await showPage(false);
}

async function onClear() {
  for (const id of ["filter-conversion", "filter-method", "filter-level", "filter-email"]) byId(id).value = "";
  state.filter = {};
  await showPage(false);
}

// --- What the answers say --------------------------------------------------------------------------

/** Say `result`'s outcome in the action message: a success key, or the failure in words. */
function answer(result, successType, successKey, vars = {}) {
  const message = byId("action-message");
  if (result.__typename === successType) {
    say(message, successKey, vars, "success");
  } else if (result.__typename === "InvalidInput") {
    // The service's own words: they name what is wrong with this very member or address.
    sayText(message, result.message);
  } else {
    explain(message, result, "members");
  }
  message.focus();
  return result.__typename === successType;
}

async function act(name, variables, field) {
  const message = byId("action-message");
  quiet(message);
  const data = await busy(byId("members"), message, () => run(name, variables));
  return data ? data[field] : null;
}

// --- Invite ----------------------------------------------------------------------------------------

function prepareInvite() {
  byId("invite-locale").value = language();
  // R19: a password account only while the customer does not require two-factor login.
  const enforced = state.customer.settings.enforceTwoFactor;
  byId("invite-password").disabled = enforced;
  if (enforced) byId("invite-two-factor").checked = true;
  translate(byId("invite-method-hint"), enforced ? "invite.method.hint.enforced" : "invite.method.hint");
}

async function onInvite(event) {
  event.preventDefault();
  const message = byId("invite-message");
  const email = byId("invite-email").value.trim();
  if (!email) {
    say(message, "error.InvalidInput.email", {}, "error");
    byId("invite-email").focus();
    return;
  }
  const variables = {
    customerId,
    email,
    level: byId("invite-level").value,
    locale: byId("invite-locale").value,
    loginMethod: document.querySelector("input[name=login-method]:checked").value,
  };
  const data = await busy(event.currentTarget, message, () => run("InviteUser", variables));
  if (!data) return;
  const result = data.inviteUser;
  if (result.__typename === "UserInvited") {
    // The same words for a new address and an existing account: the answer does not tell them apart.
    say(message, "invite.sent", { sentTo: result.sentTo }, "success");
    byId("invite-email").value = "";
    await showPage(false);
  } else if (result.__typename === "InvalidInput") {
    sayText(message, result.message);
    if (result.field === "email") byId("invite-email").focus();
  } else {
    explain(message, result, "members");
  }
}

// --- Re-send, reset, level, remove ---------------------------------------------------------------

async function resend(member) {
  const result = await act("ResendInvitation", { customerId, userId: member.user.id }, "resendInvitation");
  if (!result) return;
  answer(result, "InvitationResent", "members.resent", { sentTo: result.sentTo, expiresAt: result.expiresAt });
}

/** Ask in the #confirm dialog; resolves to true when confirmed. The safe choice has the focus. */
function confirmWith(headingKey, textKey, okKey, vars) {
  const dialog = byId("confirm");
  translate(byId("confirm-heading"), headingKey, vars);
  translate(byId("confirm-text"), textKey, vars);
  translate(byId("confirm-ok"), okKey);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    byId("confirm-cancel").focus();
  });
}

function cancelled() {
  say(byId("action-message"), "settings.cancelled", {}, "info");
}

async function sendReset(member) {
  const vars = { email: member.user.email };
  if (!(await confirmWith("members.reset.heading", "members.reset.text", "members.reset.ok", vars))) return cancelled();
  const result = await act("SendPasswordReset", { customerId, userId: member.user.id }, "sendPasswordReset");
  if (!result) return;
  answer(result, "PasswordResetSent", "members.reset.sent", { sentTo: result.sentTo });
}

async function remove(member) {
  const vars = { email: member.user.email, name: state.customer.name };
  const textKey = member.acceptedAt ? "members.remove.text" : "members.remove.text.invited";
  if (!(await confirmWith("members.remove.heading", textKey, "members.remove.ok", vars))) return cancelled();
  const result = await act("RemoveMember", { customerId, userId: member.user.id }, "removeMember");
  if (!result) return;
  if (answer(result, "MemberUpdated", "members.removed", vars)) await afterChange(member);
}

function chooseLevel(member) {
  const dialog = byId("level-dialog");
  translate(byId("level-heading"), "members.level.heading", { email: member.user.email });
  byId("new-level").value = member.level === "CUSTOMER" ? "COMPANY" : "CUSTOMER";
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => resolve(dialog.returnValue === "confirm" ? byId("new-level").value : null),
      { once: true },
    );
    dialog.returnValue = "";
    dialog.showModal();
    byId("new-level").focus();
  });
}

async function changeLevel(member) {
  const level = await chooseLevel(member);
  if (!level) return cancelled();
  if (level === member.level) return say(byId("action-message"), "settings.unchanged", {}, "info");
  const variables = { customerId, userId: member.user.id, level };
  const result = await act("SetMemberLevel", variables, "setMemberLevel");
  if (!result) return;
  const vars = { email: member.user.email, level: translateKey(`level.${level}`) };
  if (answer(result, "MemberUpdated", "members.level.changed", vars)) await afterChange(member);
}

// An admin who removed or demoted themselves may no longer see this page: the account page says where they are.
async function afterChange(member) {
  if (member.user.id === state.viewer.user.id) {
    const admin = await adminViewer(customerId);
    if (!admin) {
      byId("members").hidden = true;
      return;
    }
  }
  await showPage(false);
}

await startPage();
byId("member-filter").addEventListener("submit", onFilter);
byId("filter-clear").addEventListener("click", onClear);
byId("load-more").addEventListener("click", () => showPage(true));
byId("invite-form").addEventListener("submit", onInvite);
await load();
