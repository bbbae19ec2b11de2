from django.db import migrations

from accounts.roles import grant


class Migration(migrations.Migration):
    dependencies = [("rules", "0001_initial"), ("releases", "0010_rule_versions_and_stranded")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
