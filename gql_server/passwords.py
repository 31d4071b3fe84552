"""Password hashing with argon2id (S1), off the event loop, and the password rules of S2."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import cache
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gql_server.hash_queue import Admission, HashQueue
from gql_server.metrics import InstrumentedSemaphore

# OWASP Password Storage Cheat Sheet's first argon2id row: m=19 MiB, t=2, p=1.
MEMORY_COST_KIB = 19456
TIME_COST = 2
PARALLELISM = 1

MIN_LENGTH = 8
# Long enough for passphrases, short enough that hashing cannot be used as a DoS lever (S2).
MAX_LENGTH = 1024
# Logins that may wait for a hashing slot beyond those hashing (PASSWORD_HASH_QUEUE).
DEFAULT_MAX_WAITING = 64


@dataclass
class PasswordStats:
    """Counters for tests and metrics: real password checks and decoy hashes (S3)."""

    checks: int = 0
    decoys: int = 0


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
        self, concurrency: int, hasher: PasswordHasher | None = None, max_waiting: int = DEFAULT_MAX_WAITING
    ) -> None:
        self._hasher = hasher or PasswordHasher(
            time_cost=TIME_COST,
            memory_cost=MEMORY_COST_KIB,
            parallelism=PARALLELISM,
            type=Type.ID,
        )
        # The slots report their waiters and their wait (gql_server_password_hash_queue_depth, ..._wait_seconds).
        self.queue = HashQueue(concurrency, max_waiting, slots=InstrumentedSemaphore(concurrency))
        self._dummy_hash: str | None = None
        self.stats = PasswordStats()

    def admit(self) -> Admission:
        """A place in the hashing queue for one login, taken before its database work; raises
        HashQueueFull at once when the queue is full (P4)."""
        return self.queue.admit()

    async def hash(self, password: str) -> str:
        """Hash a password for storage."""
        return await self.queue.run(self._hasher.hash, password)

    async def verify(self, stored_hash: str, password: str) -> Verification:
        """Check a password; the parameters come from the stored hash itself."""
        self.stats.checks += 1
        return await self._verify(stored_hash, password)

    async def _verify(self, stored_hash: str, password: str) -> Verification:
        return await self.queue.run(self._verify_sync, stored_hash, password)

    async def warm_up(self) -> None:
        """Make the decoy hash at start-up, so that even the first decoy costs one hash, not two."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_urlsafe(16))

    async def spend_equivalent_time(self, password: str) -> None:
        """Verify against a throwaway hash, so that a request without an account costs the same (S3)."""
        await self.warm_up()
        assert self._dummy_hash is not None
        self.stats.decoys += 1
        await self._verify(self._dummy_hash, password)

    def _verify_sync(self, stored_hash: str, password: str) -> Verification:
        try:
            self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError, UnicodeError):
            # UnicodeError: text argon2 cannot encode can never be the stored password.
            return Verification(ok=False)
        if self._hasher.check_needs_rehash(stored_hash):
            return Verification(ok=True, new_hash=self._hasher.hash(password))
        return Verification(ok=True)


class PasswordRejected(ValueError):
    """A new password breaks a rule of S2; the message says which, for the person choosing it."""


def check_new_password(password: str) -> None:
    """Apply S2 to a password being set: length bounds and the common-password list, no composition rules."""
    if len(password) < MIN_LENGTH:
        raise PasswordRejected(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(f"Use at most {MAX_LENGTH} characters.")
    if password.casefold() in _common_passwords():
        raise PasswordRejected("This password is too common; choose another.")


@cache
def _common_passwords() -> frozenset[str]:
    text = resources.files("gql_server").joinpath("data/common-passwords.txt").read_text("utf-8")
    lines = (line.strip() for line in text.splitlines())
    return frozenset(line.casefold() for line in lines if line and not line.startswith("#"))
