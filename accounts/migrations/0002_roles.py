from django.db import migrations

from accounts.roles import grant


def forwards(apps, schema_editor):
    grant(apps)  # the roles' permissions, from the one table in accounts/roles.py


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
