from django.db import migrations

from accounts.roles import grant
from releases.defaults import DEFAULT_POLICY


def forwards(apps, schema_editor):
    WindowPolicy = apps.get_model("releases", "WindowPolicy")
    if not WindowPolicy.objects.exists():
        WindowPolicy.objects.create(**DEFAULT_POLICY)
    grant(apps)  # the groups need the permissions of the models made so far


class Migration(migrations.Migration):
    dependencies = [("releases", "0001_initial"), ("accounts", "0002_roles")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
