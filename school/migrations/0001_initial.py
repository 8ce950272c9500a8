# Classroom moved here from sessions_admin: the table stays, only Django's state moves.

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("sessions_admin", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Classroom",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("name", models.CharField(max_length=200, unique=True)),
                        (
                            "students",
                            models.ManyToManyField(blank=True, related_name="classrooms", to=settings.AUTH_USER_MODEL),
                        ),
                        (
                            "teachers",
                            models.ManyToManyField(
                                blank=True, related_name="classrooms_taught", to=settings.AUTH_USER_MODEL
                            ),
                        ),
                    ],
                    options={"db_table": "sessions_admin_classroom", "ordering": ["name"]},
                ),
            ],
            database_operations=[],
        ),
    ]
