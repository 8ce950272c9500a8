"""Practice texts and the attempts at reading them aloud."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from school.models import Classroom
from streaming.core.reading import READING_LANGUAGES, Reference
from streaming.models import StreamingSession

LANGUAGE_NAMES = {"en": _("English"), "zh": _("Chinese (Mandarin)")}
LANGUAGE_CHOICES = [(code, LANGUAGE_NAMES[code]) for code in READING_LANGUAGES]


class PracticeText(models.Model):
    """A text to read aloud; students see it once it is assigned to one of their classrooms."""

    title = models.CharField(_("title"), max_length=200)
    language = models.CharField(_("language"), max_length=8, choices=LANGUAGE_CHOICES)
    text = models.TextField(_("text"))
    source = models.CharField(_("source"), max_length=300, blank=True)
    classrooms = models.ManyToManyField(
        Classroom, related_name="practice_texts", blank=True, verbose_name=_("assigned to")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="practice_texts",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("changed"), auto_now=True)

    class Meta:
        verbose_name = _("practice text")
        verbose_name_plural = _("practice texts")
        ordering = ["language", "title"]
        constraints = [
            models.CheckConstraint(condition=Q(language__in=READING_LANGUAGES), name="practice_text_language"),
            models.CheckConstraint(condition=~Q(text__regex=r"^\s*$"), name="practice_text_not_blank"),
        ]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        """A text must hold something to read in its language (punctuation alone is not)."""
        if self.language not in READING_LANGUAGES:
            return  # the field's own validation names the language
        try:
            self.reference()
        except ValueError:
            raise ValidationError({"text": _("The text has no word to read.")}) from None

    def reference(self) -> Reference:
        return Reference(self.text, self.language)


class ReadingAttempt(models.Model):
    """One reading of a text in a practice session: the per-word result and the two figures.

    `results` is `Reading.as_dict()` of streaming/core/reading.py (words with statuses and times,
    inserted words, long pauses); the figures are columns too, to sort and average them.
    """

    session = models.ForeignKey(
        StreamingSession, on_delete=models.CASCADE, related_name="reading_attempts", verbose_name=_("session")
    )
    student = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="reading_attempts",
        verbose_name=_("student"),
    )
    # Kept while attempts exist: a teacher's figures mean nothing without the text they were read from.
    text = models.ForeignKey(
        PracticeText, on_delete=models.PROTECT, related_name="attempts", verbose_name=_("practice text")
    )
    results = models.JSONField(_("results"))
    accuracy = models.FloatField(_("accuracy"))  # 0..1, share of the text's words read correctly
    wcpm = models.FloatField(_("words correct per minute"))  # characters for Chinese
    duration = models.FloatField(_("reading time (s)"))
    created_at = models.DateTimeField(_("time"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("reading attempt")
        verbose_name_plural = _("reading attempts")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["student", "text", "created_at"], name="attempt_student_text"),
            models.Index(fields=["created_at"], name="attempt_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(accuracy__gte=0) & Q(accuracy__lte=1), name="attempt_accuracy_share"),
            models.CheckConstraint(condition=Q(wcpm__gte=0) & Q(duration__gte=0), name="attempt_figures_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.student} – {self.text} ({self.accuracy:.0%})"

    def clean(self) -> None:
        """The student is the session's owner: an attempt is read in the student's own session."""
        if self.session_id is not None and self.student_id != self.session.owner_id:
            raise ValidationError({"student": _("The attempt must belong to the session's owner.")})
