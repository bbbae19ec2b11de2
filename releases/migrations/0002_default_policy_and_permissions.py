import datetime as dt

from django.contrib.auth.management import create_permissions
from django.db import migrations

# The guide: "Wednesday, Thursday, and Friday between 12am and 3am PST".
DEFAULT_POLICY = {
    "name": "Regular release windows",
    "rrule": "FREQ=WEEKLY;BYDAY=WE,TH,FR",
    "start_time": dt.time(0, 0),
    "duration_minutes": 180,
    "zone": "America/Los_Angeles",
    "effective_from": dt.date(2020, 1, 1),
    "applies_to_all": True,
}
MODELS = ["component", "windowpolicy", "freeze"]


def forwards(apps, schema_editor):
    WindowPolicy = apps.get_model("releases", "WindowPolicy")
    if not WindowPolicy.objects.exists():
        WindowPolicy.objects.create(**DEFAULT_POLICY)

    # Permissions are normally made after migrations run; the groups need them now.
    for config in apps.get_app_configs():
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = Permission.objects.filter(content_type__app_label="releases", content_type__model__in=MODELS)
    Group.objects.get(name="Release engineers").permissions.add(*perms)
    Group.objects.get(name="Senior management").permissions.add(
        *perms.filter(codename__startswith="view_")
    )


class Migration(migrations.Migration):
    dependencies = [("releases", "0001_initial"), ("accounts", "0002_roles")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
