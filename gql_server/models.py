"""Tortoise models: the service's persistent state. Schema changes go through gql_server/migrations."""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from gql_server.enums import Assurance, ConversionState, LoginMethod, MembershipLevel, TokenPurpose
from gql_server.limits import FACTOR_LABEL_MAX_LENGTH, IP_ADDRESS_MAX_LENGTH, SESSION_USER_AGENT_MAX_LENGTH


class Customer(Model):
    """A tenant, with its settings on the row. Every settings change is an AuditEvent (R1)."""

    # Docstrings here become table comments: no semicolons or quotes (Tortoise splits SQL on ";").

    id = fields.UUIDField(primary_key=True)
    name = fields.CharField(max_length=200)
    enforce_two_factor = fields.BooleanField(default=False)
    # None means "every installed method": a new plugin becomes available without a settings change.
    allowed_methods: fields.Field[list[str] | None] = fields.JSONField(null=True)
    # R18: days a browser may skip the second factor after a success with "remember this device"; 0 = never.
    remember_device_days = fields.IntField(default=0)
    # CUSTOMER-level members enroll and sign in with phishing-resistant methods only (issue 16).
    require_phishing_resistant_admins = fields.BooleanField(default=False)
    settings_updated_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    memberships: fields.ReverseRelation[Membership]

    class Meta:
        table = "customer"


class User(Model):
    """An account of a person. One user may belong to several customers (Membership)."""

    id = fields.UUIDField(primary_key=True)
    # Stored normalised (trimmed, lower case) so lookups and uniqueness ignore case.
    email = fields.CharField(max_length=320, unique=True)
    # Null for accounts created two-factor from the start that have not chosen a password yet.
    password_hash = fields.CharField(max_length=255, null=True)
    login_method = fields.CharEnumField(LoginMethod, max_length=16, default=LoginMethod.PASSWORD)
    conversion = fields.CharEnumField(ConversionState, max_length=16, default=ConversionState.NOT_STARTED)
    # Where the last invitation went while the conversion is PENDING (R4).
    pending_email = fields.CharField(max_length=320, null=True)
    # Password-step lockout (R12/S4): failures in the current round, and how many rounds locked.
    failed_password_attempts = fields.IntField(default=0)
    password_lockouts = fields.IntField(default=0)
    password_locked_until = fields.DatetimeField(null=True)
    # Second-factor-step lockout (S6): wrong codes across challenges, same backoff as passwords.
    failed_code_attempts = fields.IntField(default=0)
    code_lockouts = fields.IntField(default=0)
    code_locked_until = fields.DatetimeField(null=True)
    # S35: attempts in flight (reserved before a secret is checked, released by its verdict). They hold
    # places in the round without counting as failures; once the newest is older than the reservation
    # lifetime (auth/lockout.py), they belong to requests that died and hold nothing.
    password_reserved = fields.IntField(default=0)
    password_reserved_at = fields.DatetimeField(null=True)
    code_reserved = fields.IntField(default=0)
    code_reserved_at = fields.DatetimeField(null=True)
    # S41: wrong codes since the last second-factor success, across lockouts; at the cap, only a recovery
    # code (or an operator reset) signs in.
    code_failure_streak = fields.IntField(default=0)
    # R13: the owner reported a change as not theirs; the password works again only after a reset by link.
    password_reset_required = fields.BooleanField(default=False)
    # Language of the emails the user receives ("en" or "fi").
    locale = fields.CharField(max_length=8, default="en")
    last_login_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    memberships: fields.ReverseRelation[Membership]
    sessions: fields.ReverseRelation[Session]
    factors: fields.ReverseRelation[EnrolledFactor]

    class Meta:
        table = "user"


class Membership(Model):
    """A user's place in a customer, with its level."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="memberships", on_delete=fields.CASCADE
    )
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="memberships", on_delete=fields.CASCADE
    )
    level = fields.CharEnumField(MembershipLevel, max_length=16)
    # When the user became a member (for an invited existing account: when it accepted, R19).
    created_at = fields.DatetimeField(auto_now_add=True)
    # R19: when a customer's admin invited this existing account (JOIN_CUSTOMER); null for a member from the
    # start (an operator's, a conversion's, an admin's new account).
    invited_at = fields.DatetimeField(null=True)

    class Meta:
        table = "membership"
        unique_together = (("user", "customer"),)
        # R19: a customer's members, in the order they were added, one keyset page at a time; the unique
        # index leads with the user and cannot serve it.
        indexes = (Index(fields=["customer_id", "created_at"], name="idx_membership_customer"),)


class PendingMembership(Model):
    """R19: an existing account invited to join a customer by one of its admins (JOIN_CUSTOMER), not accepted yet.

    Kept apart from Membership on purpose: an invited account is no member for any rule (R2 enforcement,
    R5 methods, R10, R18, access, the scope of the audit log) until it accepts, and every one of those
    reads Membership only, so none of them can count it by mistake. Only the member list shows it.
    """

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="pending_memberships", on_delete=fields.CASCADE
    )
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="pending_memberships", on_delete=fields.CASCADE
    )
    level = fields.CharEnumField(MembershipLevel, max_length=16)
    # The address the admin typed (the account's own at the time): the list shows it, not the address of
    # an account that is not this customer's yet.
    email = fields.CharField(max_length=320)
    invited_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    # The JOIN_CUSTOMER invitation now in the account's mailbox; a new one replaces it.
    token: fields.ForeignKeyNullableRelation[Token] = fields.ForeignKeyField(
        "models.Token", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "pending_membership"
        unique_together = (("user", "customer"),)
        indexes = (Index(fields=["customer_id", "created_at"], name="idx_pending_membership_customer"),)


class Session(Model):
    """A signed-in session. Only the SHA-256 of its token is stored (S16, S24)."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="sessions", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    assurance = fields.CharEnumField(Assurance, max_length=16)
    created_at = fields.DatetimeField()
    last_seen_at = fields.DatetimeField()
    # The absolute limit; the idle limit is derived from last_seen_at (S17).
    expires_at = fields.DatetimeField()
    ended_at = fields.DatetimeField(null=True)
    # R17: where and in what browser the session began, shown to its user among their sessions.
    ip_address = fields.CharField(max_length=IP_ADDRESS_MAX_LENGTH, null=True)
    user_agent = fields.CharField(max_length=SESSION_USER_AGENT_MAX_LENGTH, null=True)
    # R14: when a second factor was last verified in this session (login, enrollment, reauthenticate); null
    # for one-factor sessions and for a login that skipped the second factor through a remembered device.
    verified_at = fields.DatetimeField(null=True)
    # R14, S5: wrong step-up codes in this session since its last verified factor; at the limit it ends.
    step_up_failures = fields.IntField(default=0)

    class Meta:
        table = "session"
        # Looked up by owner (a viewer's factors, revocations, cascading deletes) in a table that grows with
        # the users: without it those lookups scan the table (performance.md P5).
        indexes = (Index(fields=["user_id"], name="idx_session_user"),)


class Token(Model):
    """A single-purpose, short-lived token (ticket, ...). Only its SHA-256 is stored (S24)."""

    id = fields.UUIDField(primary_key=True)
    purpose = fields.CharEnumField(TokenPurpose, max_length=32)
    token_hash = fields.CharField(max_length=64, unique=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="tokens", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    # Wrong codes entered against this token (a login challenge allows 5, S5), counted atomically.
    attempts = fields.IntField(default=0)
    # Purpose-specific, never secret in clear: e.g. the method of an enrollment and its encrypted state.
    data: fields.Field[dict[str, object]] = fields.JSONField(default=dict)

    class Meta:
        table = "token"
        # Looked up by owner (a viewer's factors, revocations, cascading deletes) in a table that grows with
        # the users: without it those lookups scan the table (performance.md P5).
        indexes = (Index(fields=["user_id"], name="idx_token_user"),)


class EnrolledFactor(Model):
    """An active second factor. Its state (a TOTP secret, a destination) is encrypted (S23)."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="factors", on_delete=fields.CASCADE
    )
    method = fields.CharField(max_length=64)
    state_encrypted = fields.TextField()
    # The counter of the last accepted code (TOTP time step): anything at or before it is a replay (S8).
    last_counter = fields.BigIntField(null=True)
    created_at = fields.DatetimeField()
    last_used_at = fields.DatetimeField(null=True)
    # R15: a name the user chose ("work phone").
    label = fields.CharField(max_length=FACTOR_LABEL_MAX_LENGTH, null=True)

    class Meta:
        table = "enrolled_factor"
        # Looked up by owner (a viewer's factors, revocations, cascading deletes) in a table that grows with
        # the users: without it those lookups scan the table (performance.md P5).
        indexes = (Index(fields=["user_id"], name="idx_enrolled_factor_user"),)


class RememberedDevice(Model):
    """R18: a browser that may skip the second factor. Only the SHA-256 of its cookie is stored (S24), with
    a keyed fingerprint of what the user signs in with at the time (password, address, factors): a change
    to any of them, or a lower customer setting, and the device is no longer remembered."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="remembered_devices", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    credentials_fingerprint = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    last_used_at = fields.DatetimeField(null=True)
    user_agent = fields.CharField(max_length=SESSION_USER_AGENT_MAX_LENGTH, null=True)

    class Meta:
        table = "remembered_device"
        indexes = (Index(fields=["user_id"], name="idx_remembered_device_user"),)


class OneTimeCode(Model):
    """A code the core sent (email, SMS), bound to one challenge or enrollment token (S10). Keyed digest only."""

    id = fields.UUIDField(primary_key=True)
    token: fields.ForeignKeyRelation[Token] = fields.ForeignKeyField(
        "models.Token", related_name="codes", on_delete=fields.CASCADE
    )
    method = fields.CharField(max_length=64)
    code_digest = fields.CharField(max_length=64)
    sent_to = fields.CharField(max_length=320)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "one_time_code"
        # Looked up by owner (a viewer's factors, revocations, cascading deletes) in a table that grows with
        # the users: without it those lookups scan the table (performance.md P5).
        indexes = (Index(fields=["token_id"], name="idx_one_time_code_token"),)


class RecoveryCode(Model):
    """One of a user's single-use recovery codes (S11). Keyed digest only."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="recovery_codes", on_delete=fields.CASCADE
    )
    code_digest = fields.CharField(max_length=64, db_index=True)
    created_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "recovery_code"


class MailOutbox(Model):
    """A message written in the transaction that decided to send it, delivered after commit (S36).

    The message holds links and codes: it is encrypted with a key outside the database (S24) and erased
    once delivered or given up. A message tied to a token is dropped when the token is no longer live.
    """

    id = fields.BigIntField(primary_key=True)
    template = fields.CharField(max_length=64)
    recipient = fields.CharField(max_length=320)
    message_encrypted = fields.TextField(null=True)
    token: fields.ForeignKeyNullableRelation[Token] = fields.ForeignKeyField(
        "models.Token", related_name=False, null=True, on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField()
    attempts = fields.IntField(default=0)
    # When the next delivery attempt is due; a worker that takes the message holds it until claimed_until.
    next_attempt_at = fields.DatetimeField(db_index=True)
    claimed_until = fields.DatetimeField(null=True)
    sent_at = fields.DatetimeField(null=True)
    failed_at = fields.DatetimeField(null=True)
    # Why the last attempt failed, for operators (never the message itself).
    last_error = fields.CharField(max_length=500, null=True)

    class Meta:
        table = "mail_outbox"


class DevelopmentMailbox(Model):
    """Mail kept by the development transport (no SMTP_URL): what the user would have received."""

    id = fields.BigIntField(primary_key=True)
    recipient = fields.CharField(max_length=320, db_index=True)
    subject = fields.CharField(max_length=300)
    body = fields.TextField()
    template = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()

    class Meta:
        table = "development_mailbox"


class HealthProbe(Model):
    """One row that /readyz rewrites: a database that cannot be written is not ready (S39)."""

    id = fields.IntField(primary_key=True)
    written_at = fields.DatetimeField()

    class Meta:
        table = "health_probe"


class AuditEvent(Model):
    """An audited event (S26). Times are UTC. The data never holds a secret (S25)."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField(db_index=True)
    kind = fields.CharField(max_length=64, db_index=True)
    actor: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    # Kept as text too: the trail still says who acted after the account is gone.
    actor_email = fields.CharField(max_length=320, null=True)
    # The subject's address when the event happened: history keeps the addresses as they were (R13).
    subject_email = fields.CharField(max_length=320, null=True)
    subject: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    customer: fields.ForeignKeyNullableRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    data: fields.Field[dict[str, object]] = fields.JSONField(default=dict)

    class Meta:
        table = "audit_event"
