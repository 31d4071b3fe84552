# R14-R18 (issue 14): step-up state on sessions, factor labels, remembered devices, the customer setting
# rememberDeviceDays and the token purposes of step-up codes and email changes. Sessions from before it have
# no verifiedAt: their users step up once before a sensitive operation.
from tortoise import migrations
from tortoise.migrations import operations as ops
from gql_server.enums import TokenPurpose
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_session_client')]

    initial = False

    operations = [
        ops.CreateModel(
            name='RememberedDevice',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='remembered_devices', on_delete=OnDelete.CASCADE)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('credentials_fingerprint', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('user_agent', fields.CharField(null=True, max_length=512)),
            ],
            options={'table': 'remembered_device', 'app': 'models', 'indexes': [Index(fields=['user_id'], name='idx_remembered_device_user')], 'pk_attr': 'id', 'table_description': 'R18: a browser that may skip the second factor. Only the SHA-256 of its cookie is stored (S24), with'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Customer',
            name='remember_device_days',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='EnrolledFactor',
            name='label',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Session',
            name='step_up_failures',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='Session',
            name='verified_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AlterField(
            model_name='Token',
            name='purpose',
            field=fields.CharEnumField(description='CONVERSION_TICKET: conversion_ticket\nINVITATION: invitation\nENROLLMENT: enrollment\nLOGIN_CHALLENGE: login_challenge\nREPORT_CHANGE: report_change\nPASSWORD_RESET: password_reset\nREAUTHENTICATION: reauthentication\nEMAIL_CHANGE: email_change', enum_type=TokenPurpose, max_length=32),
        ),
    ]
