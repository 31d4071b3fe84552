// /customers/{id}/audit: the customer's audit log for its admins (R19), newest first, narrowed to one
// kind of event and to an address as it was recorded with each event (R13), a page at a time.

import { adminViewer, customerIdFromPath, linkCustomerPages } from "./admin.js";
import { run } from "./api.js";
import { has, translate } from "./i18n.js";
import { busy, byId, element, explain, explainError, fill, quiet, say, showStep, startPage } from "./ui.js";

const customerId = customerIdFromPath();
const PAGE_SIZE = 25;
// The filters of the list shown, and where its next page starts.
const state = { kind: null, email: null, after: null, shown: 0 };

async function load() {
  linkCustomerPages(customerId);
  if (!(await adminViewer(customerId))) return;
  let data;
  try {
    data = await run("AuditEventKinds", { id: customerId });
  } catch (error) {
    explainError(byId("page-message"), error);
    return;
  }
  if (!data.customer) return say(byId("page-message"), "settings.not.found", {}, "error");
  translate(byId("audit-heading"), "audit.heading", { name: data.customer.name });
  showKinds(data.customer.auditEventKinds);
  showStep("audit");
  await showPage(false);
}

/** The element attributes naming a kind: our words for it ("Failed sign-in"), or the kind itself. */
function kindLabel(kind) {
  const key = `auditkind.${kind}`;
  return has(key) ? { i18n: key } : { text: kind };
}

function showKinds(kinds) {
  const options = kinds.map((kind) => element("option", { value: kind, ...kindLabel(kind) }));
  fill(byId("filter-kind"), element("option", { value: "", i18n: "audit.filter.kind.any" }), ...options);
}

// Each detail as "name: value"; values that are lists or objects as JSON, so nothing is lost or interpreted.
function detailsText(details) {
  return Object.entries(details ?? {})
    .map(([name, value]) => `${name}: ${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" · ");
}

function eventItem(event) {
  const item = element(
    "li",
    {},
    element("time", { datetime: event.at, i18n: "audit.when", vars: { eventAt: event.at } }),
    element("strong", kindLabel(event.kind)),
    element("code", { class: "hint", text: event.kind }),
  );
  if (event.actorEmail) item.append(element("span", { class: "detail", i18n: "audit.actor", vars: { email: event.actorEmail } }));
  if (event.subjectEmail) {
    item.append(element("span", { class: "detail", i18n: "audit.subject", vars: { email: event.subjectEmail } }));
  }
  const details = detailsText(event.details);
  if (details) item.append(element("span", { class: "detail hint", text: details }));
  return item;
}

/** The first page for the current filters, or (more) the next one under those already shown. */
async function showPage(more) {
  const message = byId("audit-message");
  const variables = { id: customerId, first: PAGE_SIZE, newestFirst: true, kind: state.kind, email: state.email };
  if (more) variables.after = state.after;
  const data = await busy(byId("audit"), message, () => run("AuditLog", variables));
  if (!data) return;
  const log = data.customer?.auditLog;
  if (!log) return say(message, "settings.not.found", {}, "error");
  if (log.__typename !== "AuditLogConnection") {
    explain(message, log, "audit");
    if (log.field === "email") byId("filter-email").focus();
    return;
  }
  quiet(message);
  const items = log.edges.map((edge) => eventItem(edge.node));
  if (more) byId("events").append(...items);
  else fill(byId("events"), ...items);
  state.shown = (more ? state.shown : 0) + items.length;
  state.after = log.pageInfo.endCursor;
  byId("load-more").hidden = !log.pageInfo.hasNextPage;
  const filtered = state.kind !== null || state.email !== null;
  if (state.shown === 0) translate(byId("audit-count"), filtered ? "audit.none.filtered" : "audit.none");
  else translate(byId("audit-count"), log.pageInfo.hasNextPage ? "audit.count.more" : "audit.count", { count: state.shown });
  // Keyboard users continue at the first event the button brought.
  if (more && items.length > 0) {
    items[0].tabIndex = -1;
    items[0].focus();
  }
}

async function onFilter(event) {
  event.preventDefault();
  state.kind = byId("filter-kind").value || null;
  state.email = byId("filter-email").value.trim() || null;
  await showPage(false);
}

async function onClear() {
  byId("filter-kind").value = "";
  byId("filter-email").value = "";
  state.kind = null;
  state.email = null;
  await showPage(false);
}

await startPage();
byId("audit-filter").addEventListener("submit", onFilter);
byId("filter-clear").addEventListener("click", onClear);
byId("load-more").addEventListener("click", () => showPage(true));
await load();
