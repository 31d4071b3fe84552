"""What a change of the account's credentials stops (R13, R16, R18, S18): every token in flight, a
conversion pending at another address, and the remembered browsers.

Whoever knew the old password or held the old mailbox may have started something: a conversion ticket, an
invitation to their own address (72 hours, and it needs no password once the password was proven), a
login challenge, an enrollment, an email-change or reset link. A reset, a password change, an address
change and a "this wasn't me" report each end all of it, in their own transaction, so that the change
leaves the thief nothing to finish. Only the account's own "this wasn't me" links survive: they are how
its owner answers the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gql_server.auth.devices import forget_every_device
from gql_server.clock import utcnow
from gql_server.enums import ConversionState, TokenPurpose
from gql_server.models import Token, User


@dataclass(frozen=True)
class Stopped:
    """What was stopped: a pending conversion sent back to the account's address, a pending email change
    (its link revoked), and how many tokens and remembered browsers ended in all."""

    conversion: bool
    email_change: bool
    tokens: int
    devices: int

    @property
    def change_cancelled(self) -> bool:
        """Whether a change still to be completed was stopped (R13's "used before the change completes")."""
        return self.conversion or self.email_change


async def stop_everything_in_flight(user: User, *, now: datetime | None = None) -> Stopped:
    """Inside the caller's transaction, with the user's row held: end every live token of the user but its
    "this wasn't me" links, send a PENDING conversion back to the account's own address (R4), and forget
    the remembered browsers (R18)."""
    now = now or utcnow()
    # Counted by the statement that revokes it: a confirmation that won the race (under the same row lock)
    # is not counted as stopped.
    email_change = await Token.filter(
        user_id=user.id, purpose=TokenPurpose.EMAIL_CHANGE, used_at=None, expires_at__gt=now
    ).update(used_at=now)
    tokens = (
        await Token.filter(user_id=user.id, used_at=None)
        .exclude(purpose=TokenPurpose.REPORT_CHANGE)
        .update(used_at=now)
    )
    conversion = user.conversion is ConversionState.PENDING and user.pending_email not in (None, user.email)
    if conversion:
        await User.filter(id=user.id).update(pending_email=None)
        user.pending_email = None
    devices = await forget_every_device(user)
    return Stopped(conversion=conversion, email_change=email_change > 0, tokens=email_change + tokens, devices=devices)
