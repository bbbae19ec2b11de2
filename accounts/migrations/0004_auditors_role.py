from django.db import migrations

# Auditors read the audit log (its API and the admin's list), and nothing else.
AUDITORS = "Auditors"


def create_role(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name=AUDITORS)


def remove_role(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=AUDITORS).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_text_rules")]
    operations = [migrations.RunPython(create_role, remove_role)]
