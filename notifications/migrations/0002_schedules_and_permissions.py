from django.db import migrations

from accounts.roles import grant

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
    grant(apps)  # the roles' permissions, from the one table in accounts/roles.py

def backwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=SCHEDULES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_initial"),
        ("accounts", "0002_roles"),
        ("django_q", "0018_task_success_index"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
