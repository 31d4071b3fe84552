"""Password hashing with argon2id (S1), off the event loop, and the password rules of S2 and S31.

Every password is NFKC-normalised before it is hashed, verified or looked up in the common-password
list (S31, 63B 5.1.1.2): "ﬁ" and "fi", full-width and ASCII digits are one password, whatever keyboard
or input method typed it.
"""

from __future__ import annotations

import asyncio
import gzip
import re
import secrets
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gql_server import spans
from gql_server.hash_queue import Admission, HashQueue
from gql_server.limits import (
    ARGON2_MEMORY_KIB,
    ARGON2_PARALLELISM,
    ARGON2_TIME_COST,
    PASSWORD_BUSY_PAUSE_SECONDS,
    PASSWORD_HASH_QUEUE,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
)
from gql_server.metrics import InstrumentedSemaphore

# S31: the 100,000 most common passwords (data/README.md says where they come from), plus our own additions.
COMMON_PASSWORD_LISTS = ("data/common-passwords.txt.gz", "data/common-passwords-local.txt")


def normalize_password(password: str) -> str:
    """The form a password is hashed and checked in: NFKC (S31)."""
    return unicodedata.normalize("NFKC", password)


@dataclass
class PasswordStats:
    """Counters for tests and metrics: real password checks and decoy hashes (S3)."""

    checks: int = 0
    decoys: int = 0
    # argon2 verifications run, real and decoy: S3 compares paths by this count.
    verifications: int = 0


@dataclass(frozen=True)
class Verification:
    """The outcome of checking a password against a stored hash."""

    ok: bool
    # A fresh hash when the stored one used weaker parameters than today's (S1: rehash on login).
    new_hash: str | None = None


class PasswordService:
    """Hashes and verifies passwords in worker threads, at most `concurrency` at a time.

    The bound keeps memory predictable (each hash holds 19 MiB) and leaves the event loop free;
    waiting requests queue here, at most `max_waiting` logins deep (gql_server.hash_queue).
    """

    def __init__(
        self,
        concurrency: int,
        hasher: PasswordHasher | None = None,
        max_waiting: int = PASSWORD_HASH_QUEUE,
        busy_pause: float = PASSWORD_BUSY_PAUSE_SECONDS,
    ) -> None:
        self._hasher = hasher or PasswordHasher(
            time_cost=ARGON2_TIME_COST,
            memory_cost=ARGON2_MEMORY_KIB,
            parallelism=ARGON2_PARALLELISM,
            type=Type.ID,
        )
        # The slots report their waiters and their wait (gql_server_password_hash_queue_depth, ..._wait_seconds).
        self.queue = HashQueue(
            concurrency, max_waiting, slots=InstrumentedSemaphore(concurrency), busy_pause=busy_pause
        )
        self._dummy_hash: str | None = None
        self.stats = PasswordStats()

    def admit(self) -> Admission:
        """A place in the hashing queue for one login, taken before its database work; raises
        HashQueueFull at once when the queue is full (P4)."""
        return self.queue.admit()

    async def hash(self, password: str) -> str:
        """Hash a password for storage, in its NFKC form (S31)."""
        with spans.span("password.hash"):
            return await self.queue.run(self._hasher.hash, normalize_password(password))

    async def verify(self, stored_hash: str, password: str) -> Verification:
        """Check a password; the parameters come from the stored hash itself.

        The NFKC form is tried first. Hashes stored before passwords were normalised hold the password
        as typed: when that differs, it is tried too, and a match is rehashed in the NFKC form.
        """
        self.stats.checks += 1
        with spans.span("password.verify"):
            return await self.queue.run(self._verify_sync, stored_hash, password)

    async def warm_up(self) -> None:
        """At start-up: make the decoy hash, so that even the first decoy costs what a real check does,
        and load the common-password list in a worker thread rather than in the first request that needs it.
        """
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_urlsafe(16))
            await asyncio.to_thread(_common_passwords)

    async def spend_equivalent_time(self, password: str) -> None:
        """Verify against a throwaway hash, so that a request without an account costs the same (S3):
        as many argon2 runs as a wrong password for an account, including the legacy second try (S31).
        """
        await self.warm_up()
        assert self._dummy_hash is not None
        self.stats.decoys += 1
        # Named as a real check is: the span does not say that the account does not exist.
        with spans.span("password.verify"):
            await self.queue.run(self._verify_sync, self._dummy_hash, password)

    def _verify_sync(self, stored_hash: str, password: str) -> Verification:
        normalized = normalize_password(password)
        if self._matches(stored_hash, normalized):
            if self._hasher.check_needs_rehash(stored_hash):
                return Verification(ok=True, new_hash=self._hasher.hash(normalized))
            return Verification(ok=True)
        # A hash made before normalisation (S31): the password as typed, then stored again in NFKC form.
        if normalized != password and self._matches(stored_hash, password):
            return Verification(ok=True, new_hash=self._hasher.hash(normalized))
        return Verification(ok=False)

    def _matches(self, stored_hash: str, password: str) -> bool:
        self.stats.verifications += 1
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError, UnicodeError):
            # UnicodeError: text argon2 cannot encode can never be the stored password.
            return False


class PasswordRejected(ValueError):
    """A new password breaks a rule of S2; the message says which, for the person choosing it."""


def check_new_password(password: str) -> None:
    """Apply S2 to a password being set: length bounds and the common-password list (S31), no composition
    rules. The DoS cap counts what was typed; the rest looks at the NFKC form that is stored."""
    if len(password) > PASSWORD_MAX_LENGTH:
        raise PasswordRejected(f"Use at most {PASSWORD_MAX_LENGTH} characters.")
    normalized = normalize_password(password)
    if len(normalized) < PASSWORD_MIN_LENGTH:
        raise PasswordRejected(f"Use at least {PASSWORD_MIN_LENGTH} characters.")
    key = _list_key(normalized)
    if key in _common_passwords() or _common_with_a_suffix(key):
        raise PasswordRejected("This password is too common; choose another.")


def _common_with_a_suffix(key: str) -> bool:
    """A common password with a few digits or symbols added at the end ("Summer2024!", "dragon#1"): the
    first thing guessing tools try after the list itself (63B: predictable variations of listed values)."""
    match = _SUFFIXED.fullmatch(key)
    return match is not None and match["core"] in _common_passwords()


# A core of at least four characters, then up to six digits or symbols: "summer" + "2024!".
_SUFFIXED = re.compile(r"(?P<core>.{4,}?)[\d\W_]{1,6}")


def common_password_count() -> int:
    """How many distinct entries the list holds after normalisation (S31: at least 100,000)."""
    return len(_common_passwords())


def _list_key(normalized: str) -> str:
    # Case-insensitive: "Password1" is as common as "password1". Case folding can undo NFKC, hence again.
    return unicodedata.normalize("NFKC", normalized.casefold())


@cache
def _common_passwords() -> frozenset[str]:
    """The lists, read once, on first use (about 0.1 s and 10 MB; `warm_up` does it at start-up)."""
    return frozenset().union(*(_read_list(name) for name in COMMON_PASSWORD_LISTS))


def _read_list(name: str) -> set[str]:
    """One list of the package's data, as lookup keys."""
    raw = resources.files("gql_server").joinpath(name).read_bytes()
    text = (gzip.decompress(raw) if name.endswith(".gz") else raw).decode("utf-8")
    lines = text.splitlines()
    if not name.endswith(".gz"):
        # Our own file has comments; the published list is one password per line as is ("#NAME?" too).
        lines = [line.strip() for line in lines if not line.startswith("#")]
    return {_list_key(normalize_password(line)) for line in lines if line}
