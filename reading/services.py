"""Reading practice operations: assign texts to classrooms, save an attempt from an alignment."""

from collections.abc import Iterable

from django.db import transaction

from reading.models import PracticeText, ReadingAttempt
from school import roles
from school.models import Classroom
from streaming.core.reading import Reading
from streaming.errors import ServiceError, forbidden, invalid_field
from streaming.models import StreamingSession


def classrooms_managed_by(user: "roles.Person"):
    """The classrooms whose assignments `user` may change: all for operators, taught ones for teachers."""
    if roles.is_operator(user):
        return Classroom.objects.all()
    if roles.is_teacher(user):
        return Classroom.objects.filter(teachers=user.pk)
    return Classroom.objects.none()


@transaction.atomic
def assign_text(text: PracticeText, classrooms: Iterable[Classroom], *, by: "roles.Person") -> None:
    """Make `classrooms` the text's assignments among those `by` manages; assignments to other
    classrooms (another teacher's) stay as they are."""
    managed = set(classrooms_managed_by(by).values_list("pk", flat=True))
    wanted = {c.pk for c in classrooms}
    if not wanted <= managed:
        raise forbidden("Texts may be assigned only to the classrooms one teaches.")
    kept = set(text.classrooms.exclude(pk__in=managed).values_list("pk", flat=True))
    text.classrooms.set(kept | wanted)


def create_attempt(session: StreamingSession, text: PracticeText, reading: Reading) -> ReadingAttempt:
    """Save a finished reading of `text` in `session` as the session owner's attempt."""
    if not reading.finished:
        raise ServiceError("reading_unfinished", "Only a finished reading is saved as an attempt.")
    if reading.language != text.language or len(reading.words) != len(text.reference()):
        raise invalid_field("practice_text_id", "The reading is not of this text.")
    attempt = ReadingAttempt(
        session=session,
        student_id=session.owner_id,
        text=text,
        results=reading.as_dict(),
        accuracy=reading.accuracy,
        wcpm=reading.wcpm,
        duration=reading.reading_time,
    )
    attempt.full_clean()
    attempt.save()
    return attempt
