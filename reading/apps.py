from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReadingConfig(AppConfig):
    """Reading practice: texts teachers assign to classrooms, and students' attempts at reading them
    aloud (the alignment itself is streaming/core/reading.py)."""

    name = "reading"
    verbose_name = _("Reading practice")
    default_auto_field = "django.db.models.BigAutoField"
