# Classroom now lives in the school app (same table); the admin app keeps only its proxy.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("sessions_admin", "0001_initial"),
        ("school", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="Classroom")]),
    ]
