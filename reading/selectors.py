"""Who sees which practice texts and attempts (the roles of school/roles.py)."""

from django.db.models import Q, QuerySet

from reading.models import PracticeText, ReadingAttempt
from school import roles


def texts_visible_to(user: "roles.Person") -> QuerySet[PracticeText]:
    """Operators see every text; teachers the shared ones (shipped with the service or written by
    an operator), their own and those assigned to their classrooms; students those assigned to
    their classrooms."""
    texts = PracticeText.objects.all()
    if roles.is_operator(user):
        return texts
    if roles.is_teacher(user):
        shared = ~Q(created_by__groups__name=roles.TEACHERS_GROUP)
        mine = shared | Q(created_by=user.pk) | Q(classrooms__teachers=user.pk)
        return texts.filter(pk__in=texts.filter(mine).values("pk"))
    if not getattr(user, "is_authenticated", False):
        return texts.none()
    return texts.filter(pk__in=texts.filter(classrooms__students=user.pk).values("pk"))


def attempts_visible_to(user: "roles.Person") -> QuerySet[ReadingAttempt]:
    """As sessions (streaming.selectors.sessions_visible_to): operators all, teachers their own and
    their students', students their own."""
    attempts = ReadingAttempt.objects.select_related("student", "text")
    if roles.is_operator(user):
        return attempts
    if roles.is_teacher(user):
        return attempts.filter(Q(student=user.pk) | Q(student__in=roles.taught_student_ids(user)))
    return attempts.filter(student=user.pk)


def text_editable_by(user: "roles.Person", text: PracticeText) -> bool:
    """The wording of a text is its author's (and operators'); other teachers may only assign it."""
    if roles.is_operator(user):
        return True
    return roles.is_teacher(user) and text.pk is not None and text.created_by_id == user.pk
