from django.db import migrations

from accounts.roles import grant


def forwards(apps, schema_editor):
    # Every five minutes; a fixed interval, so no DST drift. catch_up is off in Q_CLUSTER.
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name="approvals: expire ended slots",
        defaults={"func": "approvals.tasks.expire_approvals", "schedule_type": "I",
                  "minutes": 5, "repeats": -1},
    )  # fmt: skip
    grant(apps)  # the roles' permissions, from the one table in accounts/roles.py


def backwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(
        name="approvals: expire ended slots"
    ).delete()

class Migration(migrations.Migration):
    dependencies = [("approvals", "0001_initial"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(forwards, backwards)]
