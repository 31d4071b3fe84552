# R19: a customer's members listed in the order they were added, a keyset page at a time.
from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0006_account_lifecycle')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Membership',
            index=Index(fields=['customer_id', 'created_at'], name='idx_membership_customer'),
        ),
    ]
