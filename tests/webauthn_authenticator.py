"""A software WebAuthn authenticator with its browser side, for tests of gql-server-webauthn: what
`navigator.credentials.create()` and `.get()` hand a page, made from the options the service sent.

An ECDSA P-256 key (COSE ES256), "none" attestation, and the byte layouts of WebAuthn Level 2:
authenticatorData = rpIdHash (32) | flags (1) | signCount (4, big-endian) [| attested credential data:
aaguid (16) | credentialId length (2) | credentialId | COSE key], the signature over authenticatorData |
SHA-256(clientDataJSON). Nothing here comes from py_webauthn, so the plugin is checked against an
independent implementation of the format.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

# authenticatorData flags.
USER_PRESENT = 0x01
USER_VERIFIED = 0x04
ATTESTED_CREDENTIAL_DATA = 0x40
# COSE: kty EC2 (2), alg ES256 (-7), crv P-256 (1).
COSE_EC2, COSE_ES256, COSE_P256 = 2, -7, 1


def b64url(data: bytes) -> str:
    """base64url without padding, as WebAuthn's JSON forms use."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftAuthenticator:
    """One credential on a software authenticator, used from the browser at `origin`.

    `counting`: its signature count grows with each assertion (a security key); otherwise it always
    reports 0, as most synced passkeys do.
    """

    def __init__(self, origin: str, *, counting: bool = True, transports: tuple[str, ...] = ("usb",)) -> None:
        self.origin = origin
        self.counting = counting
        self.transports = list(transports)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(32)
        self.aaguid = bytes(16)
        self.sign_count = 0
        self.user_handle: bytes | None = None

    @property
    def id(self) -> str:
        """The credential's id as the browser's JSON has it."""
        return b64url(self.credential_id)

    def clone(self) -> SoftAuthenticator:
        """A copy of the key as it is now (an extracted or cloned authenticator): it counts on its own."""
        twin = SoftAuthenticator(self.origin, counting=self.counting, transports=tuple(self.transports))
        twin.key, twin.credential_id, twin.sign_count = self.key, self.credential_id, self.sign_count
        twin.user_handle = self.user_handle
        return twin

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: COSE_EC2,
                3: COSE_ES256,
                -1: COSE_P256,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _authenticator_data(self, rp_id: str, count: int, *, attested: bool) -> bytes:
        flags = USER_PRESENT | USER_VERIFIED | (ATTESTED_CREDENTIAL_DATA if attested else 0)
        data = hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + count.to_bytes(4, "big")
        if attested:
            data += self.aaguid + len(self.credential_id).to_bytes(2, "big") + self.credential_id + self._cose_key()
        return data

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False}
        ).encode()

    def create(self, options: dict[str, Any], *, origin: str | None = None, rp_id: str | None = None) -> dict[str, Any]:
        """The registration response (PublicKeyCredential.toJSON()) to creation options; `origin` and
        `rp_id` stand for a page and a key elsewhere than the options say."""
        self.user_handle = unb64url(options["user"]["id"])
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        auth_data = self._authenticator_data(rp_id or options["rp"]["id"], self.sign_count, attested=True)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "authenticatorAttachment": "cross-platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": self.transports,
            },
        }

    def get(self, options: dict[str, Any], *, origin: str | None = None, count: int | None = None) -> dict[str, Any]:
        """The assertion (PublicKeyCredential.toJSON()) to request options. `count` overrides the
        signature count it reports (a clone's); otherwise it counts on, or reports 0."""
        if count is None:
            if self.counting:
                self.sign_count += 1
            count = self.sign_count if self.counting else 0
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        auth_data = self._authenticator_data(options["rpId"], count, attested=False)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "authenticatorAttachment": "cross-platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(self.user_handle) if self.user_handle is not None else None,
            },
        }
