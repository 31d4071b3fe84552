# Issue 16: a customer may require phishing-resistant methods of its CUSTOMER-level members (off by default).
from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0008_members_and_links')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Customer',
            name='require_phishing_resistant_admins',
            field=fields.BooleanField(default=False),
        ),
    ]
