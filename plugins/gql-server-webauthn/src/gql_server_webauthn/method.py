"""`WebAuthnMethod`: passkeys and security keys as a second factor, a challenge-response method.

The plugin runs the two WebAuthn ceremonies with py_webauthn: registration (begin_enrollment's options,
finish_enrollment's attestation check) and authentication (begin_challenge's options, verify_response's
assertion check). The core keeps the challenges with the enrollment, the login challenge or the step-up
token (encrypted), counts attempts, and stores each factor's state with its counter in one conditional
update that refuses a counter at or below the last accepted one (S8).

A factor's state (text to text, encrypted at rest by the core):

| key | what |
|---|---|
| `credential_id` | the credential's id, base64url |
| `public_key` | its COSE public key, base64url |
| `sign_count` | the signature counter the authenticator reported last |
| `counter` | the counter the core accepted last (see `next_counter`) |
| `transports` | how the browser reaches the authenticator ("usb,nfc"), a hint for the next challenge |
| `user_handle` | the WebAuthn user handle it was made for, base64url |
| `rp_id` | the relying party ID it is bound to |
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from gql_server.plugin_api import (
    Account,
    AuthenticatorKind,
    Capabilities,
    ChallengeOptions,
    EnrollmentDraft,
    MethodStrings,
    MethodUI,
    Prompt,
    Verified,
)
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    decode_credential_public_key,
    decoded_public_key_to_cryptography,
    options_to_json_dict,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from gql_server_webauthn.config import ConfigurationError, RelyingParty, relying_party

log = logging.getLogger(__name__)

# What a malformed response raises on its way through py_webauthn besides its own exceptions: bad
# base64url and CBOR (ValueError subclasses), wrong JSON types. A wrong response is a wrong answer (None),
# not a plugin failure for the core to log as an error.
_REFUSED = (WebAuthnException, ValueError, TypeError, KeyError, IndexError, OverflowError)
# WebAuthn's limit on the user handle (user.id) in bytes.
MAX_USER_HANDLE = 64


def user_handle(user_id: str) -> bytes:
    """The WebAuthn user handle for a user: the core's user id (an opaque UUID, no personal data), or
    its SHA-256 when longer than WebAuthn's 64 bytes. The same for all of a user's credentials, so an
    authenticator replaces its own older passkey for the account instead of keeping two."""
    raw = user_id.encode("utf-8")
    return raw if 0 < len(raw) <= MAX_USER_HANDLE else hashlib.sha256(raw).digest()


def next_counter(last_counter: int, last_sign_count: int, reported: int) -> int:
    """The counter for the core's replay guard from the authenticator's reported signature count.

    The core accepts a counter only above the last one it accepted (`last_counter`), so:

    - an authenticator that counts answers `last_counter + (reported - last_sign_count)`: above the last
      counter exactly when its count grew; a clone whose count went back, or stayed, is refused by the core
      (and audited as a replay). For a key that counted from its registration this is its count itself;
    - an authenticator that always reports 0 (most synced passkeys: the count means nothing once a key
      lives on several devices) answers `last_counter + 1`. Nothing is lost: each challenge is random,
      single-use and kept by the core, so an assertion can never be replayed; only clone detection is
      impossible, as the specification says for such authenticators.

    An authenticator that reported 0 and now counts continues from the last counter (its count is added).
    """
    if reported == 0 and last_sign_count == 0:
        return last_counter + 1
    return last_counter + reported - last_sign_count


class WebAuthnMethod:
    """Passkeys (platform authenticators, synced or not) and security keys (USB, NFC, BLE).

    `rp` fixes the relying party; by default it is read from the environment at every call
    (GQL_SERVER_WEBAUTHN_RP_ID, GQL_SERVER_WEBAUTHN_ORIGIN, GQL_SERVER_WEBAUTHN_RP_NAME, PUBLIC_URL).
    """

    id: str = "webauthn"
    display_name: str = "Passkey or security key"
    channel: str = "security_key"
    # The browser binds every response to the site's origin and the key to the RP ID: a look-alike site
    # gets nothing it can use.
    phishing_resistant: bool = True
    enrollable: bool = True
    capabilities: Capabilities = Capabilities(
        kind=AuthenticatorKind.POSSESSION, phishing_resistant=True, hardware_bound=True, browser_api="webauthn"
    )
    # No code field: the client runs navigator.credentials with the options and sends the answer (JSON).
    ui: MethodUI = MethodUI(
        prompt=Prompt.BROWSER_API,
        strings={
            "en": MethodStrings(
                name="Passkey or security key",
                about=(
                    "Sign in with your fingerprint, face or screen lock, or a security key. Nothing to type, and "
                    "it only works on this site, so a fake site gets nothing from it."
                ),
                label="Use your passkey",
                hint="Your browser asks for your passkey, security key or screen lock.",
            ),
            "fi": MethodStrings(
                name="Pääsyavain tai suojausavain",
                about=(
                    "Kirjaudu sormenjäljellä, kasvoilla tai näytön lukituksella tai suojausavaimella. Mitään ei "
                    "tarvitse kirjoittaa, ja se toimii vain tällä sivustolla, joten huijaussivusto ei saa siitä mitään."
                ),
                label="Käytä pääsyavainta",
                hint="Selaimesi pyytää pääsyavainta, suojausavainta tai näytön lukitusta.",
            ),
        },
    )

    def __init__(self, rp: RelyingParty | None = None, *, timeout_ms: int = 120_000) -> None:
        self._rp = rp
        self._timeout_ms = timeout_ms

    def relying_party(self, default_name: str = "gql_server") -> RelyingParty:
        """The relying party: the fixed one, or the environment's now (ConfigurationError if unusable)."""
        return self._rp or relying_party(default_name)

    def problem(self) -> str | None:
        """The core's readiness check: why no ceremony can succeed (relying-party settings that cannot work),
        or None. The core then neither offers nor uses the method, and `serve` says why, once."""
        try:
            self.relying_party()
        except ConfigurationError as exc:
            return f"its settings cannot work: {exc}"
        return None

    async def begin_enrollment(self, account: Account) -> EnrollmentDraft:
        """Registration options for `navigator.credentials.create()`.

        User verification and a discoverable credential (passkey) are preferred, not required, so a plain
        security key works too; no attestation is asked for (nothing here decides on the authenticator's
        make). The user's credentials already enrolled are excluded (the browser then refuses to register
        the same authenticator twice), and the draft's state lists them, so that `finish_enrollment` refuses
        one even from a client that ignores the exclusion. The draft's state also keeps the challenge and the
        user handle.
        """
        rp = self.relying_party(account.issuer)
        handle = user_handle(account.user_id)
        enrolled = [factor for factor in account.factors if factor.get("credential_id")]
        options = generate_registration_options(
            rp_id=rp.rp_id,
            rp_name=rp.name,
            user_name=account.email,
            user_id=handle,
            user_display_name=account.email,
            timeout=self._timeout_ms,
            attestation=AttestationConveyancePreference.NONE,
            exclude_credentials=[_descriptor(factor) for factor in enrolled],
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
        )
        state = {
            "challenge": bytes_to_base64url(options.challenge),
            "user_handle": bytes_to_base64url(handle),
            "enrolled": ",".join(factor["credential_id"].rstrip("=") for factor in enrolled),
        }
        return EnrollmentDraft(state=state, options=options_to_json_dict(options))

    async def finish_enrollment(self, state: Mapping[str, str], response: Mapping[str, object]) -> Verified | None:
        """Check the registration response (the JSON of `navigator.credentials.create()`'s credential)
        against the draft's challenge, the RP ID and the origins; the new factor's state, or None."""
        rp = self.relying_party()
        try:
            credential = parse_registration_credential_json(_plain(response))
            registered = verify_registration_response(
                credential=credential,
                expected_challenge=base64url_to_bytes(state["challenge"]),
                expected_rp_id=rp.rp_id,
                expected_origin=list(rp.origins),
            )
            # "none" attestation checks the key's form, not that it is a usable key (a point on its curve):
            # a key that cannot verify anything is refused now, not at every login.
            decoded_public_key_to_cryptography(decode_credential_public_key(registered.credential_public_key))
        except _REFUSED as exc:
            log.info("webauthn registration refused: %s", exc)
            return None
        if bytes_to_base64url(registered.credential_id).rstrip("=") in state.get("enrolled", "").split(","):
            log.info("webauthn registration refused: the credential is already one of the user's factors")
            return None
        transports = credential.response.transports or []
        factor = {
            "credential_id": bytes_to_base64url(registered.credential_id),
            "public_key": bytes_to_base64url(registered.credential_public_key),
            "sign_count": str(registered.sign_count),
            "counter": str(registered.sign_count),
            "transports": ",".join(t.value for t in transports),
            "user_handle": state["user_handle"],
            "rp_id": rp.rp_id,
        }
        return Verified(registered.sign_count, factor)

    async def begin_challenge(self, states: Sequence[Mapping[str, str]]) -> ChallengeOptions:
        """Authentication options for `navigator.credentials.get()`, allowing each of the user's
        credentials of this method; the pending part is the challenge."""
        rp = self.relying_party()
        options = generate_authentication_options(
            rp_id=rp.rp_id,
            timeout=self._timeout_ms,
            allow_credentials=[_descriptor(state) for state in states],
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        return ChallengeOptions(
            options=options_to_json_dict(options), pending={"challenge": bytes_to_base64url(options.challenge)}
        )

    async def verify_response(
        self, state: Mapping[str, str], pending: Mapping[str, str], response: Mapping[str, object]
    ) -> Verified | None:
        """Check an assertion (the JSON of `navigator.credentials.get()`'s credential) made by this
        factor's credential for the pending challenge; the new counter and state (see `next_counter`),
        or None: for another credential's response, and for anything that does not verify."""
        rp = self.relying_party()
        if not _same_id(response.get("id"), state["credential_id"]):
            return None
        if state.get("rp_id", rp.rp_id) != rp.rp_id:
            log.warning(
                "a webauthn credential made for the RP ID %r was used while the RP ID is %r: it cannot verify",
                state["rp_id"],
                rp.rp_id,
            )
        try:
            credential = parse_authentication_credential_json(_plain(response))
            handle = credential.response.user_handle
            # A discoverable credential names its user: it must be the user it was made for.
            if handle is not None and handle != base64url_to_bytes(state["user_handle"]):
                return None
            asserted = verify_authentication_response(
                credential=credential,
                expected_challenge=base64url_to_bytes(pending["challenge"]),
                expected_rp_id=rp.rp_id,
                expected_origin=list(rp.origins),
                credential_public_key=base64url_to_bytes(state["public_key"]),
                # 0: py_webauthn's own count check is left out, so that a count that does not grow reaches
                # the core's replay guard, which refuses it and audits the clone (S8).
                credential_current_sign_count=0,
            )
        except _REFUSED as exc:
            log.info("webauthn assertion refused: %s", exc)
            return None
        reported = asserted.new_sign_count
        counter = next_counter(int(state["counter"]), int(state["sign_count"]), reported)
        return Verified(counter, {**state, "sign_count": str(reported), "counter": str(counter)})


def _plain(response: Mapping[str, object]) -> dict[str, Any]:
    """The response as the dict py_webauthn's parsers take (the core hands over a parsed JSON object)."""
    return dict(response)


def _same_id(given: object, credential_id: str) -> bool:
    """Whether the response's `id` names this credential (base64url, with or without padding)."""
    return isinstance(given, str) and given.rstrip("=") == credential_id.rstrip("=")


def _descriptor(state: Mapping[str, str]) -> PublicKeyCredentialDescriptor:
    """A factor's credential for allowCredentials, with the transports the browser may try."""
    known = {t.value for t in AuthenticatorTransport}
    transports = [AuthenticatorTransport(t) for t in state.get("transports", "").split(",") if t in known]
    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(state["credential_id"]), transports=transports or None)
