"""Classrooms link teachers to their students (school/roles.py reads them)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Classroom(models.Model):
    """A class: its teachers may watch and close the sessions of its students."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    teachers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="classrooms_taught", blank=True, verbose_name=_("teachers")
    )
    students = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="classrooms", blank=True, verbose_name=_("students")
    )

    class Meta:
        verbose_name = _("classroom")
        verbose_name_plural = _("classrooms")
        # The table the admin app created before classrooms had an app of their own.
        db_table = "sessions_admin_classroom"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
