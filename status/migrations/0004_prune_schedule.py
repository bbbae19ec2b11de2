from django.db import migrations

# A fixed interval (no DST drift); pruning what is older than PROBE_KEEP_DAYS is idempotent.
SCHEDULE = "status: prune probe samples"


def forwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=SCHEDULE,
        defaults={
            "func": "status.tasks.prune_samples",
            "schedule_type": "I",
            "minutes": 360,
            "repeats": -1,
        },
    )


def backwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [("status", "0003_probes")]
    operations = [migrations.RunPython(forwards, backwards)]
