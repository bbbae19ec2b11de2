from django.db import migrations

# Every minute, a fixed interval (no DST drift); the task works out from the clock what is due.
SCHEDULE = "releases: flag missed windows"


def forwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=SCHEDULE,
        defaults={
            "func": "releases.tasks.flag_missed_windows",
            "schedule_type": "I",
            "minutes": 1,
            "repeats": -1,
        },
    )


def backwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("releases", "0010_rule_versions_and_stranded"),
        ("django_q", "0018_task_success_index"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
