from django.contrib.auth.management import create_permissions
from django.db import migrations


def forwards(apps, schema_editor):
    for config in apps.get_app_configs():
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    views = Permission.objects.filter(content_type__app_label="audit", codename__startswith="view_")
    # View only: the admin offers no add, change or delete, whatever permissions say.
    for name in ("Senior management", "Auditors"):
        Group.objects.get(name=name).permissions.add(*views)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_head_and_daily_schedule"), ("accounts", "0004_auditors_role")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
