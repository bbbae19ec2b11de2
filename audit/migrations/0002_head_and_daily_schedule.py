from django.db import migrations

# A fixed interval, not DAILY (which drifts by an hour across DST): each run works out from the
# clock whether today's verification and anchor are done, so only the first run of a day works.
SCHEDULE = "audit: verify and anchor, daily"


def forwards(apps, schema_editor):
    # The chain's head exists from the start: appends only ever lock it.
    apps.get_model("audit", "Head").objects.get_or_create(pk=1)
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=SCHEDULE,
        defaults={"func": "audit.tasks.daily", "schedule_type": "I", "minutes": 10,
                  "repeats": -1},
    )


def backwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_entries_head_anchors"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(forwards, backwards)]
