from django.db import migrations

from accounts.roles import grant


def forwards(apps, schema_editor):
    grant(apps)  # the roles' permissions, from the one table in accounts/roles.py


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_head_and_daily_schedule"), ("accounts", "0004_auditors_role")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
