from tortoise import migrations
from tortoise.migrations import operations as ops
from gql_server.enums import TokenPurpose
from tortoise.fields.base import OnDelete
from tortoise import fields


class RenameModelAndTable(ops.RenameModel):
    """RenameModel, and the table with it: RenameModel keeps a table name set in Meta."""

    def __init__(self, old_name: str, new_name: str, new_table: str) -> None:
        super().__init__(old_name, new_name)
        self.new_table = new_table

    def state_forward(self, app_label, state):
        super().state_forward(app_label, state)
        model_state = state.models[(app_label, self.new_name)]
        model_state.table = self.new_table
        model_state.options["table"] = self.new_table
        state.reload_model(app_label, self.new_name)


class Migration(migrations.Migration):
    dependencies = [('models', '0003_owner_indexes')]

    initial = False

    operations = [
        # The development transport's table; "outbox" now means the outbox of S36 (mail_outbox).
        RenameModelAndTable('EmailOutbox', 'DevelopmentMailbox', 'development_mailbox'),
        ops.CreateModel(
            name='HealthProbe',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('written_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'health_probe', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One row that /readyz rewrites: a database that cannot be written is not ready (S39).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MailOutbox',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('template', fields.CharField(max_length=64)),
                ('recipient', fields.CharField(max_length=320)),
                ('message_encrypted', fields.TextField(null=True, unique=False)),
                ('token', fields.ForeignKeyField('models.Token', source_field='token_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('claimed_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('failed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.CharField(null=True, max_length=500)),
            ],
            options={'table': 'mail_outbox', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A message written in the transaction that decided to send it, delivered after commit (S36).'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='AuditEvent',
            name='subject_email',
            field=fields.CharField(null=True, max_length=320),
        ),
        # Events recorded before this migration get the subject's address as it is now: the best known.
        ops.RunSQL(
            'UPDATE audit_event SET subject_email = (SELECT u.email FROM "user" u WHERE u.id = audit_event.subject_id) '
            "WHERE subject_id IS NOT NULL",
            reverse_sql=ops.RunSQL.noop,
        ),
        ops.AlterField(
            model_name='Token',
            name='purpose',
            field=fields.CharEnumField(description='CONVERSION_TICKET: conversion_ticket\nINVITATION: invitation\nENROLLMENT: enrollment\nLOGIN_CHALLENGE: login_challenge\nREPORT_CHANGE: report_change\nPASSWORD_RESET: password_reset', enum_type=TokenPurpose, max_length=32),
        ),
        ops.AddField(
            model_name='User',
            name='code_failure_streak',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='User',
            name='code_reserved',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='User',
            name='code_reserved_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='User',
            name='password_reserved',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='User',
            name='password_reserved_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='User',
            name='password_reset_required',
            field=fields.BooleanField(default=False),
        ),
    ]
