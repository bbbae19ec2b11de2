from django.db import migrations

from accounts.roles import grant

# Every minute, a fixed interval (no DST drift); the task works out from the clock what is due.
SCHEDULE = "status: chase late incident updates"


def forwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=SCHEDULE,
        defaults={
            "func": "status.tasks.escalate_overdue",
            "schedule_type": "I",
            "minutes": 1,
            "repeats": -1,
        },
    )
    grant(apps)


def backwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [("status", "0001_initial"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(forwards, backwards)]
