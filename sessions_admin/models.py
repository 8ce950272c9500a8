"""School structure for roles (classrooms) and the admin's service-health entry."""

from django.conf import settings
from django.db import models

from streaming.models import WorkerHeartbeat


class Classroom(models.Model):
    """A class: its teachers may watch and close the sessions of its students."""

    name = models.CharField(max_length=200, unique=True)
    teachers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="classrooms_taught", blank=True)
    students = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="classrooms", blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ServiceHealth(WorkerHeartbeat):
    """No table of its own: gives the health dashboard an entry (and a view permission) in the admin."""

    class Meta:
        proxy = True
        verbose_name = "service health"
        verbose_name_plural = "service health"
