from django.contrib.auth.management import create_permissions
from django.db import migrations


def forwards(apps, schema_editor):
    # Every five minutes; a fixed interval, so no DST drift. catch_up is off in Q_CLUSTER.
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="approvals: expire ended slots",
        defaults={"func": "approvals.tasks.expire_approvals", "schedule_type": "I",
                  "minutes": 5, "repeats": -1},
    )
    for config in apps.get_app_configs():
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    views = Permission.objects.filter(
        content_type__app_label="approvals", codename__startswith="view_"
    )
    for name in ("Release engineers", "Senior management"):
        Group.objects.get(name=name).permissions.add(*views)


def backwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(
        name="approvals: expire ended slots"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("approvals", "0001_initial"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(forwards, backwards)]
