// The invitation page for LINK_ACCOUNT (R20) and JOIN_CUSTOMER (R19) invitations: what accepting does,
// signing in to the account the invitation names first, then acceptInvitation, with the step-up dialog
// (stepup.js) when a two-factor account's second factor is not recent (R14).
//
// To sign in, the user goes to /login#invitation=<token>: the login page takes the token from its own
// fragment at once (as this page does) and, once signed in, comes back to /invitation#token=<token>.

import { run } from "./api.js";
import { translate } from "./i18n.js";
import { runStepped } from "./stepup.js";
import { busy, byId, element, explain, fill, say, sayText, showStep } from "./ui.js";

const state = { invitation: null, token: null, viewer: null, invalid: null };

function linking() {
  return state.invitation.kind === "LINK_ACCOUNT";
}

/** Show what accepting `invitation` does and what to do first; `invalid(key)` shows a dead link. */
export async function showAcceptance(invitation, token, invalid) {
  Object.assign(state, { invitation, token, invalid });
  const kind = linking() ? "link" : "join";
  const vars = {
    email: invitation.email,
    linkFrom: invitation.linkFrom ?? "",
    customerName: invitation.customerName ?? "",
    expiresAt: invitation.expiresAt,
  };
  translate(document.querySelector("title"), `accept.${kind}.title`);
  translate(byId("accept-heading"), `accept.${kind}.heading`, vars);
  translate(byId("accept-what"), `accept.${kind}.what`, vars);
  translate(byId("accept-after"), `accept.${kind}.after`, vars);
  translate(byId("accept-submit"), `accept.${kind}.submit`);
  try {
    state.viewer = (await run("Viewer")).viewer;
  } catch {
    // Who is signed in is unknown: signing in (again) is the way on either way.
    state.viewer = null;
  }
  showSignedIn();
  showStep("step-accept");
}

function isNamed(viewer) {
  return viewer !== null && viewer.user.email.toLowerCase() === state.invitation.email.toLowerCase();
}

// Accept only from the account the invitation names; anyone else (or nobody) signs in as it first.
function showSignedIn(key = null) {
  const viewer = state.viewer;
  const ready = isNamed(viewer) && key === null;
  byId("accept-form").hidden = !ready;
  byId("accept-sign-in").hidden = ready;
  if (ready) {
    translate(byId("accept-as"), "accept.signed.in.as", { email: viewer.user.email });
    return;
  }
  const why = key ?? (viewer ? "accept.sign.in.other" : "accept.sign.in.first");
  say(byId("accept-sign-in-why"), why, { email: state.invitation.email, viewerEmail: viewer?.user.email ?? "" }, "info");
  translate(byId("accept-sign-in-button"), viewer ? "accept.sign.in.switch" : "accept.sign.in", {
    email: state.invitation.email,
  });
}

async function onSignIn() {
  const button = byId("accept-sign-in-button");
  if (state.viewer) {
    // Signed in as another account: that session ends first, so the login below is the named account's.
    const done = await busy(byId("accept-sign-in"), byId("accept-sign-in-why"), () => run("Logout"));
    if (done === undefined) return;
  }
  button.disabled = true;
  const fragment = new URLSearchParams({ invitation: state.token, email: state.invitation.email });
  window.location.assign(`/login#${fragment}`);
}

async function onAccept(event) {
  event.preventDefault();
  const message = byId("accept-message");
  const result = await busy(event.currentTarget, message, () =>
    runStepped("AcceptInvitation", { invitation: state.token }, "acceptInvitation"),
  );
  if (!result) return;
  switch (result.__typename) {
    case "InvitationAccepted":
      state.token = null;
      showAccepted(result.user);
      break;
    case "StepUpCancelled":
      say(message, "stepup.cancelled", {}, "info");
      break;
    case "ChallengeExpired":
      state.invalid("invitation.invalid.used");
      break;
    case "AuthenticationRequired":
      // The session ended, or it is not the named account's (or may only convert, R10).
      state.viewer = null;
      showSignedIn("accept.error.AuthenticationRequired");
      byId("accept-sign-in-button").focus();
      break;
    case "ReauthenticationRequired":
      // R14 with no methods: a password account has no second factor to link with; it converts first (R8).
      say(message, "accept.link.convert.first", { email: state.invitation.email, expiresAt: state.invitation.expiresAt }, "error");
      break;
    case "InvalidInput":
      // S32: the service says which customer would leave the account no method, and what would help.
      sayText(message, result.message);
      break;
    default:
      explain(message, result, "accept");
  }
}

function showAccepted(user) {
  const kind = linking() ? "link" : "join";
  say(
    byId("accepted-what"),
    `accept.${kind}.done`,
    { email: user.email, linkFrom: state.invitation.linkFrom ?? "", customerName: state.invitation.customerName ?? "" },
    "success",
  );
  const items = user.memberships.map(({ level, customer }) =>
    element("li", {}, element("strong", { text: customer.name }), element("span", { class: "hint", i18n: `level.${level}` })),
  );
  fill(byId("accepted-customers"), ...items);
  showStep("step-accepted");
}

byId("accept-sign-in-button").addEventListener("click", onSignIn);
byId("accept-form").addEventListener("submit", onAccept);
