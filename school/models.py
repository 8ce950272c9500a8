"""Classrooms link teachers to their students (school/roles.py reads them)."""

from django.conf import settings
from django.db import models


class Classroom(models.Model):
    """A class: its teachers may watch and close the sessions of its students."""

    name = models.CharField(max_length=200, unique=True)
    teachers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="classrooms_taught", blank=True)
    students = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="classrooms", blank=True)

    class Meta:
        # The table the admin app created before classrooms had an app of their own.
        db_table = "sessions_admin_classroom"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
