import functools
from json import dumps, loads
from uuid import uuid4

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

from gql_server.enums import Assurance, ConversionState, LoginMethod, MembershipLevel, TokenPurpose


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="Customer",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True),
                ),
                ("name", fields.CharField(max_length=200)),
                ("enforce_two_factor", fields.BooleanField(default=False)),
                (
                    "allowed_methods",
                    fields.JSONField(
                        null=True,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "settings_updated_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "customer",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A tenant, with its settings on the row. Every settings change is an AuditEvent (R1).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="User",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True),
                ),
                ("email", fields.CharField(unique=True, max_length=320)),
                ("password_hash", fields.CharField(null=True, max_length=255)),
                (
                    "login_method",
                    fields.CharEnumField(
                        default=LoginMethod.PASSWORD,
                        description="PASSWORD: PASSWORD\nTWO_FACTOR: TWO_FACTOR",
                        enum_type=LoginMethod,
                        max_length=16,
                    ),
                ),
                (
                    "conversion",
                    fields.CharEnumField(
                        default=ConversionState.NOT_STARTED,
                        description="NOT_STARTED: NOT_STARTED\nPENDING: PENDING\nCOMPLETED: COMPLETED",
                        enum_type=ConversionState,
                        max_length=16,
                    ),
                ),
                ("pending_email", fields.CharField(null=True, max_length=320)),
                ("failed_password_attempts", fields.IntField(default=0)),
                ("password_lockouts", fields.IntField(default=0)),
                (
                    "password_locked_until",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "last_login_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "user",
                "app": "models",
                "pk_attr": "id",
                "table_description": "An account of a person. One user may belong to several customers (Membership).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AuditEvent",
            fields=[
                (
                    "id",
                    fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ("kind", fields.CharField(db_index=True, max_length=64)),
                (
                    "actor",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="actor_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("actor_email", fields.CharField(null=True, max_length=320)),
                (
                    "subject",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="subject_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "customer",
                    fields.ForeignKeyField(
                        "models.Customer",
                        source_field="customer_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "data",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
            ],
            options={
                "table": "audit_event",
                "app": "models",
                "pk_attr": "id",
                "table_description": "An audited event (S26). Times are UTC. The data never holds a secret (S25).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Membership",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="memberships",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "customer",
                    fields.ForeignKeyField(
                        "models.Customer",
                        source_field="customer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="memberships",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "level",
                    fields.CharEnumField(
                        description="CUSTOMER: CUSTOMER\nCOMPANY: COMPANY",
                        enum_type=MembershipLevel,
                        max_length=16,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "membership",
                "app": "models",
                "unique_together": (("user", "customer"),),
                "pk_attr": "id",
                "table_description": "A user's place in a customer, with its level.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Session",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="sessions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("token_hash", fields.CharField(unique=True, max_length=64)),
                (
                    "assurance",
                    fields.CharEnumField(
                        description="PASSWORD: PASSWORD\nTWO_FACTOR: TWO_FACTOR",
                        enum_type=Assurance,
                        max_length=16,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("last_seen_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("expires_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("ended_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "session",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A signed-in session. Only the SHA-256 of its token is stored (S16, S24).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Token",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True),
                ),
                (
                    "purpose",
                    fields.CharEnumField(
                        description="CONVERSION_TICKET: conversion_ticket\nLOGIN_CHALLENGE: login_challenge",
                        enum_type=TokenPurpose,
                        max_length=32,
                    ),
                ),
                ("token_hash", fields.CharField(unique=True, max_length=64)),
                (
                    "user",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="tokens",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("expires_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("used_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "token",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A single-purpose, short-lived token (ticket, ...). Only its SHA-256 is stored (S24).",
            },
            bases=["Model"],
        ),
    ]
