"""The audit trail (S26): one row per audited event, then the `auth_event` hook for observers."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import pluggy

from gql_server.clock import utcnow
from gql_server.models import AuditEvent, Customer, User
from gql_server.plugins import call_each
from gql_server.views import auth_event_view


class AuditKind(StrEnum):
    """The kinds of audited event; `AuditEvent.kind` holds the value."""

    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    LOGIN_REFUSED_LOCKED = "login_refused_locked"
    # R13: the right password of an account whose owner reported a change; it works again after a reset.
    LOGIN_REFUSED_RESET_REQUIRED = "login_refused_reset_required"
    PASSWORD_LOCKOUT = "password_lockout"  # noqa: S105 (an event name, not a secret)
    CONVERSION_REQUIRED = "conversion_required"
    LOGOUT = "logout"
    SETTINGS_CHANGED = "settings_changed"
    USER_CREATED = "user_created"
    MEMBERSHIP_ADDED = "membership_added"
    CUSTOMER_CREATED = "customer_created"
    CONVERSION_STARTED = "conversion_started"
    INVITATION_SENT = "invitation_sent"
    CONVERSION_COMPLETED = "conversion_completed"
    FACTOR_ADDED = "factor_added"
    # R15: a user removed one of their factors (`method`, `factor`, `sessions_ended`: the others ended, `ip`).
    FACTOR_REMOVED = "factor_removed"
    # R15: a user renamed one of their factors (`method`, `factor`, `ip`; not the name itself).
    FACTOR_RENAMED = "factor_renamed"
    FACTORS_RESET = "factors_reset"
    LOGIN_CODE_SENT = "login_code_sent"
    SECOND_FACTOR_FAILED = "second_factor_failed"
    SECOND_FACTOR_LOCKOUT = "second_factor_lockout"
    SECOND_FACTOR_REFUSED_LOCKED = "second_factor_refused_locked"
    SECOND_FACTOR_CAPPED = "second_factor_capped"
    REPLAY_REFUSED = "replay_refused"
    RECOVERY_CODE_USED = "recovery_code_used"
    RECOVERY_CODES_REPLACED = "recovery_codes_replaced"
    SESSIONS_ENDED = "sessions_ended"
    # R17: a user ended one of their sessions (`session`, whether it was the `current` one, `ip`).
    SESSION_ENDED = "session_ended"
    PROFILE_UPDATED = "profile_updated"
    # R14: a second factor verified again within a session (`method`, `ip`).
    REAUTHENTICATED = "reauthenticated"
    # R17: a user ended all their sessions but the current one (`sessions`: how many, `ip`).
    OTHER_SESSIONS_ENDED = "other_sessions_ended"
    # R13: the owner used a "this wasn't me" link; the change, the address, whether it was stopped.
    CHANGE_REPORTED = "change_reported"
    PASSWORD_RESET = "password_reset"  # noqa: S105 (an event name, not a secret)
    PASSWORD_RESET_REQUESTED = "password_reset_requested"  # noqa: S105 (an event name, not a secret)
    # R16: the user changed their password in a session (`sessions`: the other sessions ended, `ip`).
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (an event name, not a secret)
    # R13: a link to confirm a new address was mailed there (`sent_to`, masked; `ip`). Written the same
    # whether or not the address has an account: the log is read by the customers' admins (no enumeration).
    EMAIL_CHANGE_REQUESTED = "email_change_requested"
    # The account's address changed: `old` and `new` in the data (R13).
    EMAIL_CHANGED = "email_changed"
    # An operator's `user create` whose invitation the mail server refused: the account is removed again.
    USER_REMOVED = "user_removed"
    # R18: a browser was remembered after a second-factor success (`device`, `days` it may skip it, `ip`).
    DEVICE_REMEMBERED = "device_remembered"
    # R18: a remembered browser was forgotten (`device`, `reason`: "user" when the user forgot it, "replaced"
    # when the browser was remembered again, else why it no longer qualified at a login: "expired",
    # "setting_lowered", "credentials_changed"; `ip`).
    DEVICE_FORGOTTEN = "device_forgotten"
    # R19, by a customer's admin (the actor), in that customer's log: a new account (`level`, `login_method`,
    # `existing`: false) or a JOIN_CUSTOMER invitation of an existing account (`existing`: true).
    USER_INVITED = "user_invited"
    # R19: an admin sent a pending member's invitation again (`sent_to`, masked; `kind`).
    INVITATION_RESENT = "invitation_resent"
    # R19: an admin removed a member, or withdrew an invitation (`level`, `invited`: whether it was one).
    MEMBER_REMOVED = "member_removed"
    # R19: an admin changed a member's level (`from`, `to`).
    MEMBER_LEVEL_CHANGED = "member_level_changed"
    # R19: an admin sent a password member a reset link (`sent_to`, masked).
    PASSWORD_RESET_SENT = "password_reset_sent"  # noqa: S105 (an event name, not a secret)
    # R19: an invited existing account accepted and is a member now (`level`).
    INVITATION_ACCEPTED = "invitation_accepted"
    # R20: a converting account was linked into the account that owns the address it typed, in the log of
    # every customer involved (`linked`: the old account's address, `into`: the remaining one's).
    ACCOUNTS_LINKED = "accounts_linked"


class Auditor:
    """Records audited events and tells the plugins that observe them."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._pm = pm

    async def record(
        self,
        kind: AuditKind,
        *,
        actor: User | None = None,
        subject: User | None = None,
        customer: Customer | None = None,
        data: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Store one event (never with a secret in `data`, S25) and notify `auth_event` observers."""
        event = await AuditEvent.create(
            at=utcnow(),
            kind=kind.value,
            actor=actor,
            actor_email=actor.email if actor else None,
            subject=subject,
            subject_email=subject.email if subject else None,
            customer=customer,
            data=data or {},
        )
        # An observer's failure must never undo or block what was audited.
        call_each(self._pm.hook.auth_event, event=auth_event_view(event))
        return event

    async def record_caused_by(
        self,
        kind: AuditKind,
        customers: Sequence[Customer],
        *,
        subject: User,
        data: dict[str, Any] | None = None,
    ) -> list[AuditEvent]:
        """S33: an event a customer's policy caused (`Policy.enforcing_customers`), once per causing customer,
        so that it shows in those customers' logs only; with no customer (the user's own choice, or an
        operator's plugin policy), once without, like the user's own actions.
        """
        if not customers:
            return [await self.record(kind, subject=subject, data=data)]
        return [await self.record(kind, subject=subject, customer=c, data=dict(data or {})) for c in customers]
