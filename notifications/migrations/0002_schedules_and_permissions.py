from django.contrib.auth.management import create_permissions
from django.db import migrations

# Every minute, a fixed interval (no DST drift); each task works out from the clock what is due,
# so a run missed while no cluster was up is simply done by the next one (catch_up is off).
SCHEDULES = {
    "notifications: sweep the outbox": "notifications.tasks.sweep",
    "notifications: scheduled work": "notifications.tasks.scheduled_work",
}


def forwards(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, func in SCHEDULES.items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": "I", "minutes": 1, "repeats": -1},
        )
    for config in apps.get_app_configs():
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    mine = Permission.objects.filter(content_type__app_label="notifications")
    # The release team runs subscribers, customer accounts and the outbox; managers look.
    Group.objects.get(name="Release engineers").permissions.add(
        *mine.exclude(codename__in=["add_delivery", "add_message", "change_message"])
    )
    Group.objects.get(name="Senior management").permissions.add(
        *mine.filter(codename__startswith="view_")
    )


def backwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=SCHEDULES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_initial"),
        ("accounts", "0002_roles"),
        ("django_q", "0018_task_success_index"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
