"""Keys derived from SECRET_KEY (HKDF): encryption of factor state at rest (S23), keyed code digests (S24),
the fingerprints of remembered devices (R18).

Each key has its own HKDF `info` label, so that one can never be used in the place of another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class StateUnreadable(Exception):
    """Encrypted state could not be decrypted: SECRET_KEY changed, or the data was altered."""


def _derive(secret_key: str, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret_key.encode("utf-8"))


class Keyring:
    """The service's keys, all derived from SECRET_KEY and never stored in the database."""

    def __init__(self, secret_key: str) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(secret_key, b"gql_server factor state v1")))
        self._digest_key = _derive(secret_key, b"gql_server code digests v1")
        self._mail = Fernet(base64.urlsafe_b64encode(_derive(secret_key, b"gql_server mail outbox v1")))
        self._fingerprint_key = _derive(secret_key, b"gql_server fingerprints v1")

    def encrypt_state(self, state: Mapping[str, str]) -> str:
        """Encrypt and authenticate a factor's state (AES-128-CBC + HMAC-SHA256, Fernet)."""
        return self._fernet.encrypt(json.dumps(dict(state), sort_keys=True).encode("utf-8")).decode("ascii")

    def decrypt_state(self, token: str) -> dict[str, str]:
        """The state encrypted by `encrypt_state`; StateUnreadable when it cannot be trusted."""
        try:
            data = json.loads(self._fernet.decrypt(token.encode("ascii")))
        except (InvalidToken, ValueError) as exc:
            raise StateUnreadable("factor state cannot be decrypted with this SECRET_KEY") from exc
        return {str(k): str(v) for k, v in data.items()}

    def encrypt_message(self, message: bytes) -> str:
        """Encrypt a queued email (it holds links and codes) for the outbox (S24, S36)."""
        return self._mail.encrypt(message).decode("ascii")

    def decrypt_message(self, token: str) -> bytes:
        """A queued email encrypted by `encrypt_message`; StateUnreadable when this key cannot read it."""
        try:
            return self._mail.decrypt(token.encode("ascii"))
        except (InvalidToken, ValueError) as exc:
            raise StateUnreadable("a queued email cannot be decrypted with this SECRET_KEY") from exc

    def code_digest(self, scope: str, code: str) -> str:
        """A keyed digest of a short code, bound to a scope (a challenge id, a user id).

        Six digits are too few for a plain hash: anyone reading the table could try all of them.
        Keyed with a secret outside the database, and bound to its scope, the digest reveals nothing.
        """
        message = f"{scope}\x00{code}".encode()
        return hmac.new(self._digest_key, message, hashlib.sha256).hexdigest()

    def same_digest(self, scope: str, code: str, digest: str) -> bool:
        """Constant-time comparison of a typed code with a stored digest."""
        return hmac.compare_digest(self.code_digest(scope, code), digest)

    def fingerprint(self, *parts: str) -> str:
        """A keyed digest of `parts` (R18: what a user signs in with, when a device was remembered).

        Keyed, so that without SECRET_KEY the stored digest cannot be tested against guesses of what went
        into it (a password hash from an old backup, say). The parts are joined with NUL, which none of them
        contains, so ("ab", "c") and ("a", "bc") differ.
        """
        message = "\x00".join(parts).encode("utf-8")
        return hmac.new(self._fingerprint_key, message, hashlib.sha256).hexdigest()
