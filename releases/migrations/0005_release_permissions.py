from django.contrib.auth.management import create_permissions
from django.db import migrations

# Release engineers run the desk; nobody deletes a release (it is cancelled instead) and the
# timeline and rollbacks are only ever read. Senior management reads everything.
ENGINEERS = {
    "release": ["add", "change", "view"],
    "releaseitem": ["add", "change", "delete", "view"],
    "releaseevent": ["view"],
    "rollback": ["view"],
}


def forwards(apps, schema_editor):
    for config in apps.get_app_configs():
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    releases = Permission.objects.filter(content_type__app_label="releases")
    engineers = Group.objects.get(name="Release engineers")
    managers = Group.objects.get(name="Senior management")
    for model, verbs in ENGINEERS.items():
        engineers.permissions.add(
            *releases.filter(content_type__model=model, codename__in=[f"{v}_{model}" for v in verbs])
        )
        managers.permissions.add(*releases.filter(codename=f"view_{model}"))


class Migration(migrations.Migration):
    dependencies = [("releases", "0004_releases")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
