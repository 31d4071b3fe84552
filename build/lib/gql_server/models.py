"""Tortoise models: the service's persistent state. Schema changes go through gql_server/migrations."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from gql_server.enums import Assurance, ConversionState, LoginMethod, MembershipLevel, TokenPurpose


class Customer(Model):
    """A tenant, with its settings on the row. Every settings change is an AuditEvent (R1)."""

    # Docstrings here become table comments: no semicolons or quotes (Tortoise splits SQL on ";").

    id = fields.UUIDField(primary_key=True)
    name = fields.CharField(max_length=200)
    enforce_two_factor = fields.BooleanField(default=False)
    # None means "every installed method": a new plugin becomes available without a settings change.
    allowed_methods: fields.Field[list[str] | None] = fields.JSONField(null=True)
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
    last_login_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    memberships: fields.ReverseRelation[Membership]
    sessions: fields.ReverseRelation[Session]

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
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "membership"
        unique_together = (("user", "customer"),)


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

    class Meta:
        table = "session"


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

    class Meta:
        table = "token"


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
    subject: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    customer: fields.ForeignKeyNullableRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    data: fields.Field[dict[str, object]] = fields.JSONField(default=dict)

    class Meta:
        table = "audit_event"
