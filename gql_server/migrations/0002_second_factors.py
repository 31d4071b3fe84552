from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from gql_server.enums import TokenPurpose
from json import dumps, loads
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]

    initial = False

    operations = [
        ops.CreateModel(
            name="EmailOutbox",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("recipient", fields.CharField(db_index=True, max_length=320)),
                ("subject", fields.CharField(max_length=300)),
                ("body", fields.TextField(unique=False)),
                ("template", fields.CharField(max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "email_outbox",
                "app": "models",
                "pk_attr": "id",
                "table_description": "Mail kept by the development transport (no SMTP_URL): what the user would have received.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="EnrolledFactor",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "user",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="factors",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("method", fields.CharField(max_length=64)),
                ("state_encrypted", fields.TextField(unique=False)),
                ("last_counter", fields.BigIntField(null=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("last_used_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "enrolled_factor",
                "app": "models",
                "pk_attr": "id",
                "table_description": "An active second factor. Its state (a TOTP secret, a destination) is encrypted (S23).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="OneTimeCode",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "token",
                    fields.ForeignKeyField(
                        "models.Token",
                        source_field="token_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="codes",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("method", fields.CharField(max_length=64)),
                ("code_digest", fields.CharField(max_length=64)),
                ("sent_to", fields.CharField(max_length=320)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("expires_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("used_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "one_time_code",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A code the core sent (email, SMS), bound to one challenge or enrollment token (S10). Keyed digest only.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RecoveryCode",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                (
                    "user",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="recovery_codes",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("code_digest", fields.CharField(db_index=True, max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("used_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "recovery_code",
                "app": "models",
                "pk_attr": "id",
                "table_description": "One of a user's single-use recovery codes (S11). Keyed digest only.",
            },
            bases=["Model"],
        ),
        ops.AlterField(
            model_name="Token",
            name="purpose",
            field=fields.CharEnumField(
                description="CONVERSION_TICKET: conversion_ticket\nINVITATION: invitation\nENROLLMENT: enrollment\nLOGIN_CHALLENGE: login_challenge",
                enum_type=TokenPurpose,
                max_length=32,
            ),
        ),
        ops.AddField(
            model_name="Token",
            name="attempts",
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name="Token",
            name="data",
            field=fields.JSONField(
                default=dict, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
            ),
        ),
        ops.AddField(
            model_name="User",
            name="code_locked_until",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="User",
            name="code_lockouts",
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name="User",
            name="failed_code_attempts",
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name="User",
            name="locale",
            field=fields.CharField(default="en", max_length=8),
        ),
    ]
