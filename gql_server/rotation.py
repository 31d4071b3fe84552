"""Rotating SECRET_KEY (issue 5): re-encrypt every factor state from the old key to the new one.

Factor state (a TOTP secret, a code's destination) is encrypted with a key derived from SECRET_KEY
(S23), so a new SECRET_KEY alone would make every enrolled factor unreadable. `rotate_factor_states`
decrypts each state with the old keyring and encrypts it with the new one, in one transaction.

What cannot be migrated: the keyed digests of recovery codes and of one-time codes in flight (S24).
They are HMACs of codes the service never knew in clear, so there is nothing to re-digest; the report
counts the users whose recovery codes stop working, and docs/operations.md tells the operator what
that means. Sessions and other tokens are plain SHA-256 hashes and are not affected.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from tortoise.transactions import in_transaction

from gql_server.clock import utcnow
from gql_server.crypto import Keyring, StateUnreadable
from gql_server.enums import TokenPurpose
from gql_server.limits import SECRET_KEY_MIN_LENGTH
from gql_server.models import EnrolledFactor, MailOutbox, RecoveryCode, Token

OLD_KEY_VARIABLE = "OLD_SECRET_KEY"
# How many unreadable factor ids a refusal names; enough to investigate, short enough to read.
SHOWN_IDS = 5


class RotationRefused(Exception):
    """The rotation was refused before anything changed; the message says why and what to do."""


@dataclass(frozen=True)
class RotationReport:
    """What one rotation did (printed as JSON by `gql-server rotate-secret-key`)."""

    # Enrolled factors whose state was under the old key and now is under the new one.
    reencrypted: int
    # Enrolled factors already under the new key (a rerun, or enrolled by a process with the new key).
    already_current: int
    # Enrollments in progress (begun, not yet confirmed) whose pending state was re-encrypted too.
    enrollments_reencrypted: int
    # Users with unused recovery codes digested under the old key: those codes no longer work.
    users_needing_new_recovery_codes: int
    # Messages waiting in the outbox (S36) re-encrypted, so they still go out.
    mail_reencrypted: int = 0

    def as_json(self) -> dict[str, int]:
        """The report as a JSON-ready mapping."""
        return asdict(self)


@dataclass(frozen=True)
class _Rewrite:
    """One planned change: a row, the ciphertext read, the ciphertext to write."""

    row_id: uuid.UUID
    user_id: uuid.UUID
    before: str
    after: str


def read_old_secret_key(path: Path | None, environ: Mapping[str, str] | None = None) -> str:
    """The previous SECRET_KEY, from `path` or else the OLD_SECRET_KEY environment variable.

    Refused when both or neither are given (a crypto operation must not guess which key was meant),
    or when the value is too short to have been a SECRET_KEY. The key itself is never echoed.
    """
    env = os.environ if environ is None else environ
    from_env = env.get(OLD_KEY_VARIABLE, "").strip()
    if path is not None and from_env:
        raise RotationRefused(f"Give the old key once: {OLD_KEY_VARIABLE} or --old-key-file, not both.")
    if path is not None:
        try:
            key = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise RotationRefused(f"Cannot read the old key file {path}: {exc}") from None
    elif from_env:
        key = from_env
    else:
        raise RotationRefused(
            f"Set {OLD_KEY_VARIABLE} (or pass --old-key-file PATH) to the SECRET_KEY the service ran with until now; "
            "SECRET_KEY must already hold the new key."
        )
    # The settings accept no shorter SECRET_KEY: anything shorter was never a key the service ran with.
    if len(key) < SECRET_KEY_MIN_LENGTH:
        raise RotationRefused(
            f"The old key has fewer than {SECRET_KEY_MIN_LENGTH} characters, "
            "so it was never a SECRET_KEY of this service."
        )
    return key


async def rotate_factor_states(old: Keyring, new: Keyring) -> RotationReport:
    """Re-encrypt every enrolled factor's state (and every live enrollment's) from `old` to `new`.

    All or nothing, in one transaction: every state is decrypted before anything is written, and a
    state that neither key can read refuses the whole rotation (RotationRefused) with nothing changed.
    A state the new key reads already is left alone, so a rerun is harmless and picks up factors a
    process still running with the old key enrolled after the first run.
    """
    if _same_key(old, new):
        raise RotationRefused("The old key and SECRET_KEY are the same key: set SECRET_KEY to the new key first.")
    async with in_transaction():
        factor_rows = await EnrolledFactor.all().order_by("id").values_list("id", "user_id", "state_encrypted")
        factors, current, unreadable = _plan(old, new, [(r[0], r[1], str(r[2])) for r in factor_rows])
        # Enrollments begun but not confirmed carry the new factor's state too; a user who scanned a QR
        # code just before the rotation can still confirm it afterwards. Dead ones are never read again.
        enrollment_rows = await (
            Token.filter(purpose=TokenPurpose.ENROLLMENT, used_at=None, expires_at__gt=utcnow())
            .order_by("id")
            .values_list("id", "user_id", "data")
        )
        enrollment_data: dict[uuid.UUID, dict[str, object]] = {r[0]: dict(r[2]) for r in enrollment_rows}
        pending = [(r[0], r[1], str(r[2]["state"])) for r in enrollment_rows if "state" in r[2]]
        enrollments, _, unreadable_enrollments = _plan(old, new, pending)
        if unreadable or unreadable_enrollments:
            raise RotationRefused(_unreadable_message(unreadable, unreadable_enrollments))

        reencrypted = 0
        rotated_users: set[uuid.UUID] = set()
        for rewrite in factors:
            # Conditional on the ciphertext read: a factor removed or replaced meanwhile (reset-factors by
            # another operator) is skipped rather than overwritten with a state read before the change.
            changed = await EnrolledFactor.filter(id=rewrite.row_id, state_encrypted=rewrite.before).update(
                state_encrypted=rewrite.after
            )
            reencrypted += changed
            if changed:
                rotated_users.add(rewrite.user_id)
        for rewrite in enrollments:
            # Nothing else ever writes an enrollment's data (only its attempts and used_at change).
            data = {**enrollment_data[rewrite.row_id], "state": rewrite.after}
            await Token.filter(id=rewrite.row_id).update(data=data)

        mail = await _rotate_queued_mail(old, new)

        # Recovery codes are made together with a factor (S11: a whole set per enrollment), so the users
        # whose factors were under the old key are the ones whose codes were digested with it.
        holders = set(await RecoveryCode.filter(used_at=None).distinct().values_list("user_id", flat=True))
    return RotationReport(
        reencrypted=reencrypted,
        already_current=current,
        enrollments_reencrypted=len(enrollments),
        users_needing_new_recovery_codes=len(rotated_users & holders),
        mail_reencrypted=mail,
    )


async def _rotate_queued_mail(old: Keyring, new: Keyring) -> int:
    """Re-encrypt the messages still waiting in the outbox (S36), so that they can still go out.

    A message neither key reads is left to the outbox, which gives it up; it is mail, not a secret the
    service needs, and refusing the whole rotation for it would help nobody.
    """
    rows = await MailOutbox.filter(sent_at=None, failed_at=None, message_encrypted__not_isnull=True).values_list(
        "id", "message_encrypted"
    )
    rewritten = 0
    for row_id, ciphertext in rows:
        try:
            message = old.decrypt_message(str(ciphertext))
        except StateUnreadable:
            continue
        rewritten += await MailOutbox.filter(id=row_id, message_encrypted=ciphertext).update(
            message_encrypted=new.encrypt_message(message)
        )
    return rewritten


def _same_key(old: Keyring, new: Keyring) -> bool:
    """Whether two keyrings hold the same key: only the same key decrypts the other's Fernet token."""
    try:
        new.decrypt_state(old.encrypt_state({}))
    except StateUnreadable:
        return False
    return True


def _plan(
    old: Keyring, new: Keyring, rows: list[tuple[uuid.UUID, uuid.UUID, str]]
) -> tuple[list[_Rewrite], int, list[uuid.UUID]]:
    """Sort rows into rewrites (under the old key), a count of current ones, and unreadable ids."""
    rewrites: list[_Rewrite] = []
    current = 0
    unreadable: list[uuid.UUID] = []
    for row_id, user_id, ciphertext in rows:
        try:
            state = old.decrypt_state(ciphertext)
        except StateUnreadable:
            try:
                new.decrypt_state(ciphertext)
            except StateUnreadable:
                unreadable.append(row_id)
            else:
                current += 1
            continue
        rewrites.append(_Rewrite(row_id, user_id, ciphertext, new.encrypt_state(state)))
    return rewrites, current, unreadable


def _unreadable_message(factors: list[uuid.UUID], enrollments: list[uuid.UUID]) -> str:
    parts = []
    if factors:
        shown = ", ".join(str(i) for i in factors[:SHOWN_IDS]) + (", ..." if len(factors) > SHOWN_IDS else "")
        parts.append(f"{len(factors)} enrolled factor(s) ({shown})")
    if enrollments:
        parts.append(f"{len(enrollments)} enrollment(s) in progress")
    return (
        f"{' and '.join(parts)} can be decrypted neither with the old key nor with SECRET_KEY. "
        f"Is {OLD_KEY_VARIABLE} the key the service ran with until now? Nothing was changed."
    )
