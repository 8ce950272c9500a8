"""Who is who in a school: operators, teachers and students.

- Operators see and manage everything: superusers, and staff users outside the "teachers" group.
- Teachers are users in the "teachers" group (they need *staff status* to log into the admin).
  They see and may close the sessions of the students in the classrooms they teach, plus their
  own, and nothing else. The teacher role wins over staff status, so ticking "staff" for a
  teacher to let them into the admin never makes them an operator.
- Everyone else (students) sees only their own sessions.
"""

from typing import TYPE_CHECKING, TypeAlias

from django.db.models import QuerySet

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    Person: TypeAlias = User | AnonymousUser  # whom a request or a socket belongs to

TEACHERS_GROUP = "teachers"
_TEACHER_CACHE = "_llb_is_teacher"


def is_teacher(user: "Person") -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    cached = getattr(user, _TEACHER_CACHE, None)
    if cached is None:
        cached = user.groups.filter(name=TEACHERS_GROUP).exists()
        setattr(user, _TEACHER_CACHE, cached)  # one query per request, not one per admin row
    return cached


def is_operator(user: "Person") -> bool:
    if not (getattr(user, "is_authenticated", False) and user.is_active):
        return False
    return user.is_superuser or (user.is_staff and not is_teacher(user))


def taught_student_ids(teacher: "Person") -> QuerySet:
    """Ids of the students in the teacher's classrooms (a subquery; empty for non-teachers)."""
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    if not is_teacher(teacher):
        return users.none().values("pk")
    return users.filter(classrooms__teachers=teacher.pk).values("pk")


def teaches(teacher: "Person", student_id: int) -> bool:
    return is_teacher(teacher) and taught_student_ids(teacher).filter(pk=student_id).exists()
