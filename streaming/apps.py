from django.apps import AppConfig


class StreamingConfig(AppConfig):
    name = "streaming"
    verbose_name = "Audio streaming"
    default_auto_field = "django.db.models.BigAutoField"
