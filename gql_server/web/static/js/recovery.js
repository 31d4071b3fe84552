// The recovery codes step: shown once, with copy and download, then on to the account page. The
// invitation page shows it after enrolling (R5), the account page after "Create new codes" (R15).

import { t, translate } from "./i18n.js";
import { byId, element, fill, say, showStep } from "./ui.js";

let shown = [];
let owner = "";

function asText() {
  return `${t("recovery.file.title", { email: owner })}\n\n${shown.join("\n")}\n`;
}

async function copy() {
  try {
    await navigator.clipboard.writeText(asText());
    say(byId("recovery-message"), "recovery.copied", {}, "success");
  } catch {
    // Clipboard access needs a secure context (https or localhost); selecting the list still works.
    window.getSelection().selectAllChildren(byId("recovery-codes"));
    say(byId("recovery-message"), "copy.failed", {}, "error");
  }
}

function download() {
  const url = URL.createObjectURL(new Blob([asText()], { type: "text/plain;charset=utf-8" }));
  const link = element("a", { href: url, download: "recovery-codes.txt", hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  // After the click has been handled; revoking at once can cancel the download in some browsers.
  setTimeout(() => URL.revokeObjectURL(url), 1000);
  say(byId("recovery-message"), "recovery.downloaded", {}, "success");
}

function onContinue(event) {
  event.preventDefault();
  if (!byId("saved-codes").checked) {
    say(byId("recovery-message"), "recovery.confirm.first", {}, "error");
    byId("saved-codes").focus();
    return;
  }
  shown = [];
  window.location.assign("/account");
}

/**
 * Show the ten new recovery codes of `email` (R5, R15), under the line `doneKey` says; they are not
 * kept anywhere after this page.
 */
export function showRecoveryCodes(codes, email, doneKey = "recovery.done") {
  shown = codes;
  owner = email;
  translate(byId("recovery-done"), doneKey);
  fill(byId("recovery-codes"), ...codes.map((code) => element("li", {}, element("code", { text: code }))));
  showStep("step-recovery");
}

byId("copy-codes").addEventListener("click", copy);
byId("download-codes").addEventListener("click", download);
byId("recovery-form").addEventListener("submit", onContinue);
