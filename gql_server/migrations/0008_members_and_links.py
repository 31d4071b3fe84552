# R19: invitations to join a customer that existing accounts have not accepted yet (pending_membership),
# and when an accepted member was invited (membership.invited_at).
from tortoise import migrations
from tortoise.migrations import operations as ops
from gql_server.enums import MembershipLevel, TokenPurpose
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0007_membership_customer_index')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PendingMembership',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='pending_memberships', on_delete=OnDelete.CASCADE)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='pending_memberships', on_delete=OnDelete.CASCADE)),
                ('level', fields.CharEnumField(description='CUSTOMER: CUSTOMER\nCOMPANY: COMPANY', enum_type=MembershipLevel, max_length=16)),
                ('invited_by', fields.ForeignKeyField('models.User', source_field='invited_by_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('token', fields.ForeignKeyField('models.Token', source_field='token_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'pending_membership', 'app': 'models', 'unique_together': (('user', 'customer'),), 'indexes': [Index(fields=['customer_id', 'created_at'], name='idx_pending_membership_customer')], 'pk_attr': 'id', 'table_description': 'R19: an existing account invited to join a customer by one of its admins (JOIN_CUSTOMER), not accepted yet.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Membership',
            name='invited_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AlterField(
            model_name='Token',
            name='purpose',
            field=fields.CharEnumField(description='CONVERSION_TICKET: conversion_ticket\nINVITATION: invitation\nENROLLMENT: enrollment\nLOGIN_CHALLENGE: login_challenge\nREPORT_CHANGE: report_change\nPASSWORD_RESET: password_reset\nREAUTHENTICATION: reauthentication\nEMAIL_CHANGE: email_change\nJOIN_CUSTOMER: join_customer\nLINK_ACCOUNT: link_account', enum_type=TokenPurpose, max_length=32),
        ),
    ]
