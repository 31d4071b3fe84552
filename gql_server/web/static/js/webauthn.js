// Passkeys and security keys: the browser's WebAuthn ceremonies for a method whose capabilities say
// browserApi "webauthn" (methods.js offers such a method only where `supported()`).
//
// The server hands out the options as JSON (PublicKeyCredentialCreationOptions or ...RequestOptions, with
// base64url fields) and takes the credential back as JSON text where other methods take a typed code, so
// nothing here knows a method id: `create` and `get` turn one JSON into the other. A refusal (the user
// cancelled, the time ran out, no passkey of this account on the device) is an answer, not an exception:
// { failure: <strings key> } for the page to show like any other error.

// The strings of this API: the button for each ceremony, what the user is told, what a refusal means.
export const words = Object.freeze({
  // methods.js's methodName and methodKey(method, "about" | "hint") for a method of this API.
  name: "passkey.name",
  about: "passkey.about",
  hint: "passkey.hint",
  // The button that runs each ceremony, and what registering is about.
  enroll: "passkey.create",
  enrollHeading: "passkey.create.heading",
  enrollHint: "passkey.create.hint",
  use: "passkey.use",
  // explain()'s context: "passkey.error.InvalidCode" says the passkey, not a code, was not accepted.
  context: "passkey",
});

// DOMException names -> what to tell the user. Browsers answer NotAllowedError alike for "cancelled",
// "timed out" and "no passkey of this account here" (so that a page cannot probe for credentials).
const FAILURES = {
  NotAllowedError: "passkey.error.cancelled",
  AbortError: "passkey.error.cancelled",
  InvalidStateError: "passkey.error.exists",
  SecurityError: "passkey.error.address",
  NotSupportedError: "passkey.error.unsupported",
};

/** Whether this browser can run the ceremonies with the server's JSON options: WebAuthn in a secure
 * context (https, or localhost), with PublicKeyCredential's JSON helpers (every current engine since 2025). */
export function supported() {
  const credential = globalThis.PublicKeyCredential;
  return (
    globalThis.isSecureContext === true &&
    typeof navigator.credentials?.create === "function" &&
    typeof credential === "function" &&
    typeof credential.parseCreationOptionsFromJSON === "function" &&
    typeof credential.parseRequestOptionsFromJSON === "function" &&
    typeof credential.prototype.toJSON === "function"
  );
}

/** Registration: a new passkey for `options` (EnrollmentStarted.options); { code } to confirm it with, or
 * { failure }. */
export async function create(options) {
  return ceremony(() =>
    navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(parsed(options)) }),
  );
}

/** Authentication: an assertion for `options` (SecondFactorChallenge.options); { code } to verify, or
 * { failure }. */
export async function get(options) {
  return ceremony(() =>
    navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(parsed(options)) }),
  );
}

// The JSON scalar arrives parsed; a client that kept it as text works too.
function parsed(options) {
  return typeof options === "string" ? JSON.parse(options) : options;
}

async function ceremony(run) {
  if (!supported()) return { failure: "passkey.error.unsupported" };
  try {
    const credential = await run();
    if (!credential) return { failure: "passkey.error.cancelled" };
    return { code: JSON.stringify(credential.toJSON()) };
  } catch (error) {
    const failure = FAILURES[error?.name];
    // Anything else (options the browser cannot read) is a fault to see in the console, not the user's doing.
    if (!failure) console.error(error);
    return { failure: failure ?? "passkey.error.failed" };
  }
}
