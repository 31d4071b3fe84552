from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [('models', '0004_lifecycle_and_faults')]

    initial = False

    operations = [
        # R17: where and in what browser a session began; sessions from before this migration show neither.
        ops.AddField(
            model_name='Session',
            name='ip_address',
            field=fields.CharField(null=True, max_length=45),
        ),
        ops.AddField(
            model_name='Session',
            name='user_agent',
            field=fields.CharField(null=True, max_length=512),
        ),
    ]
