// What the customer admin's pages (/customers/{id}/members, /customers/{id}/audit) share: the customer id
// from the path, and who may see them (the customer's CUSTOMER-level members, in a session the policy
// does not restrict, R1, R10, R19).

import { run } from "./api.js";
import { byId, explainError, say } from "./ui.js";

/** The customer id in /customers/{id}/... */
export function customerIdFromPath() {
  return decodeURIComponent(window.location.pathname.split("/")[2] ?? "");
}

/** The links between a customer's admin pages: each `a[data-customer-page]` gets its page's address. */
export function linkCustomerPages(customerId) {
  for (const link of document.querySelectorAll("a[data-customer-page]")) {
    link.href = `/customers/${encodeURIComponent(customerId)}/${link.dataset.customerPage}`;
  }
}

/**
 * The viewer when they administer `customerId`; otherwise says why not in #page-message (or goes to
 * /login when nobody is signed in) and resolves to null.
 */
export async function adminViewer(customerId) {
  const message = byId("page-message");
  let data;
  try {
    data = await run("Viewer");
  } catch (error) {
    explainError(message, error);
    return null;
  }
  if (!data.viewer) {
    window.location.replace("/login");
    return null;
  }
  const membership = data.viewer.user.memberships.find((m) => m.customer.id === customerId);
  let problem = null;
  if (!membership) problem = "settings.not.found";
  else if (membership.level !== "CUSTOMER") problem = "admin.not.admin";
  // R10: a password session of someone who must convert reads nothing but the viewer.
  else if (data.viewer.requirement === "CONVERSION") problem = "admin.convert.first";
  if (problem) {
    say(message, problem, {}, "error");
    return null;
  }
  return { viewer: data.viewer, customer: membership.customer };
}
