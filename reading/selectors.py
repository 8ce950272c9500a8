"""Who sees which practice texts and attempts (the roles of school/roles.py), and the trends a
teacher reads from the attempts they see."""

from datetime import datetime, timedelta

from django.db.models import Avg, Count, Max, Q, QuerySet
from django.utils import timezone

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


def daily_trend(
    attempts: QuerySet[ReadingAttempt], days: int, now: datetime | None = None
) -> tuple[list[datetime], dict[str, list[float | None]]]:
    """Per local day of the last `days` (today last): the mean accuracy in percent and the mean
    WCPM of each language read (`wcpm_en`, `wcpm_zh`: words and characters are not comparable);
    None on a day without attempts. Averaged in Python, as the dashboard's figures are."""
    today = timezone.localtime(now or timezone.now()).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=days - 1)
    starts = [first + timedelta(days=i) for i in range(days)]
    rows = attempts.filter(created_at__gte=first).values_list("created_at", "accuracy", "wcpm", "text__language")
    accuracy: list[list[float]] = [[] for _ in starts]
    wcpm: dict[str, list[list[float]]] = {}
    for created, share, rate, language in rows:
        day = (timezone.localtime(created).date() - first.date()).days
        if not 0 <= day < days:
            continue
        accuracy[day].append(100 * share)
        wcpm.setdefault(language, [[] for _ in starts])[day].append(rate)

    def means(per_day: list[list[float]]) -> list[float | None]:
        return [sum(values) / len(values) if values else None for values in per_day]

    lines = {"accuracy": means(accuracy)}
    lines.update({f"wcpm_{language}": means(per_day) for language, per_day in sorted(wcpm.items())})
    return starts, lines


def student_summaries(attempts: QuerySet[ReadingAttempt]) -> list[dict]:
    """Per student among `attempts`: how many, mean accuracy (0..1) and WCPM, best WCPM, last time."""
    rows = (
        attempts.order_by()
        .values("student", "student__username")
        .annotate(
            attempts=Count("pk"),
            mean_accuracy=Avg("accuracy"),
            mean_wcpm=Avg("wcpm"),
            best_wcpm=Max("wcpm"),
            last=Max("created_at"),
        )
        .order_by("student__username")
    )
    return [dict(row) for row in rows]
