from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_second_factors')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='EnrolledFactor',
            index=Index(fields=['user_id'], name='idx_enrolled_factor_user'),
        ),
        ops.AddIndex(
            model_name='OneTimeCode',
            index=Index(fields=['token_id'], name='idx_one_time_code_token'),
        ),
        ops.AddIndex(
            model_name='Session',
            index=Index(fields=['user_id'], name='idx_session_user'),
        ),
        ops.AddIndex(
            model_name='Token',
            index=Index(fields=['user_id'], name='idx_token_user'),
        ),
    ]
