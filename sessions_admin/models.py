"""The admin's service-health entry (classrooms live in the school app)."""

from django.utils.translation import gettext_lazy as _

from streaming.models import WorkerHeartbeat


class ServiceHealth(WorkerHeartbeat):
    """No table of its own: gives the health dashboard an entry (and a view permission) in the admin."""

    class Meta:
        proxy = True
        verbose_name = _("service health")
        verbose_name_plural = _("service health")
