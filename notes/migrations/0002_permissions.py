from django.contrib.auth.management import create_permissions
from django.db import migrations


def forwards(apps, schema_editor):
    for config in apps.get_app_configs():
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    notes = Permission.objects.filter(content_type__app_label="notes")
    Group.objects.get(name="Release engineers").permissions.add(
        *notes.exclude(codename__startswith="delete_")
    )
    Group.objects.get(name="Senior management").permissions.add(
        *notes.filter(codename__startswith="view_")
    )


class Migration(migrations.Migration):
    dependencies = [("notes", "0001_initial"), ("releases", "0005_release_permissions")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
