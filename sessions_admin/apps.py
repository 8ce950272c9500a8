from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SessionsAdminConfig(AppConfig):
    name = "sessions_admin"
    verbose_name = _("Sessions and service health")
