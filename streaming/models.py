"""Streaming sessions, their transcript entries, API tokens and worker heartbeats."""

import hashlib
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from streaming.core.protocol import LANGUAGE_TAG_MAX_LENGTH, is_language_tag


class SessionStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    CLOSED = "closed", _("Closed")
    EXPIRED = "expired", _("Expired")


class StreamingSession(models.Model):
    """One student's conversation; audio counters move as the WebSocket receives audio."""

    id = models.UUIDField(_("id"), primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="streaming_sessions",
        verbose_name=_("user"),
    )
    language = models.CharField(_("language"), max_length=16, default="en")
    status = models.CharField(_("status"), max_length=16, choices=SessionStatus.choices, default=SessionStatus.ACTIVE)
    options = models.JSONField(_("options"), default=dict, blank=True)
    created_at = models.DateTimeField(_("started"), default=timezone.now, editable=False)
    last_activity_at = models.DateTimeField(_("last activity"), default=timezone.now)
    closed_at = models.DateTimeField(_("ended"), null=True, blank=True)
    audio_seconds = models.FloatField(_("audio received (s)"), default=0.0)
    chunks_received = models.PositiveBigIntegerField(_("chunks received"), default=0)
    bytes_received = models.PositiveBigIntegerField(_("bytes received"), default=0)
    # Where a reconnecting client resumes (docs/decisions/0046): the session audio before this
    # point is transcribed and saved, or was never speech; written with the counters.
    transcribed_seconds = models.FloatField(_("audio transcribed (s)"), default=0.0)
    # A dropped connection's turn being finished (`finishing_until`, epoch seconds), and the
    # finals its client never received (`finals`): the next connection waits for the one and
    # sends the others.
    handover = models.JSONField(_("handover"), default=dict, blank=True)

    class Meta:
        verbose_name = _("session")
        verbose_name_plural = _("sessions")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "last_activity_at"], name="session_status_activity"),
            models.Index(fields=["owner", "status"], name="session_owner_status"),
            models.Index(fields=["created_at"], name="session_created"),
        ]
        constraints = [
            # An active session is open; a closed or expired one records when it ended.
            models.CheckConstraint(
                condition=(Q(status=SessionStatus.ACTIVE) & Q(closed_at__isnull=True))
                | (~Q(status=SessionStatus.ACTIVE) & Q(closed_at__isnull=False)),
                name="session_closed_at_matches_status",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.owner}, {self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status == SessionStatus.ACTIVE

    @property
    def duration(self) -> timedelta:
        return (self.closed_at or self.last_activity_at) - self.created_at

    def end(self, status: str) -> None:
        """Move to a final status; the row is saved by the caller."""
        if status == SessionStatus.ACTIVE:
            raise ValueError("end() takes a final status")
        self.status = status
        self.closed_at = timezone.now()


class EntryRole(models.TextChoices):
    # The tutor is the program that answers, not a teacher: a context of its own keeps its Chinese apart.
    USER = "user", _("Student")
    ASSISTANT = "assistant", pgettext_lazy("entry role", "Tutor")


class ConversationEntry(models.Model):
    """One finished utterance or reply; `sequence` orders a session's transcript."""

    session = models.ForeignKey(
        StreamingSession, on_delete=models.CASCADE, related_name="entries", verbose_name=_("session")
    )
    sequence = models.PositiveIntegerField(_("number"))
    role = models.CharField(_("speaker"), max_length=16, choices=EntryRole.choices)
    text = models.TextField(_("text"))
    language = models.CharField(_("language"), max_length=LANGUAGE_TAG_MAX_LENGTH, default="en")
    audio_duration = models.FloatField(_("audio length (s)"), default=0.0)
    audio_start = models.FloatField(_("audio start (s)"), null=True, blank=True)  # seconds in the session's audio
    audio_end = models.FloatField(_("audio end (s)"), null=True, blank=True)
    # final delay (user) / first audio (reply)
    latency = models.FloatField(_("latency (s)"), null=True, blank=True)
    word_latency = models.FloatField(_("word latency (s)"), null=True, blank=True)  # median word latency (user)
    created_at = models.DateTimeField(_("time"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["session", "sequence"]
        verbose_name = _("transcript entry")
        verbose_name_plural = _("transcript entries")
        constraints = [
            models.UniqueConstraint(fields=["session", "sequence"], name="entry_sequence_unique"),
        ]
        indexes = [
            models.Index(fields=["created_at"], name="entry_created"),
            models.Index(fields=["role", "created_at"], name="entry_role_created"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.get_role_display()}: {self.text[:40]}"

    def clean(self) -> None:
        """The language is a tag that fits its column: a longer one would fail the insert itself,
        after the reply was spoken."""
        if not is_language_tag(self.language):
            raise ValidationError({"language": _("Not a language tag such as 'en' or 'zh-CN'.")})


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token for API clients; only its hash is stored, the key is shown once."""

    PREFIX_LENGTH = 8

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("user")
    )
    name = models.CharField(_("name"), max_length=100)
    key_hash = models.CharField(_("key hash"), max_length=64, unique=True, editable=False)
    prefix = models.CharField(_("key prefix"), max_length=PREFIX_LENGTH, editable=False)
    is_active = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def assign_new_key(self) -> str:
        """Set a fresh random key and return it; it cannot be read back later."""
        raw = secrets.token_urlsafe(32)
        self.key_hash = hash_token(raw)
        self.prefix = raw[: self.PREFIX_LENGTH]
        return raw


class WorkerKind(models.TextChoices):
    ASR = "asr", _("Speech recognition")
    TTS = "tts", _("Speech synthesis")


class WorkerHeartbeat(models.Model):
    """Last sign of life from one ASR or TTS worker process."""

    kind = models.CharField(_("kind"), max_length=8, choices=WorkerKind.choices)
    host = models.CharField(_("host"), max_length=255)
    pid = models.PositiveIntegerField(_("process id"))
    model = models.CharField(_("model"), max_length=255, blank=True)
    device = models.CharField(_("device"), max_length=32, blank=True)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    last_seen_at = models.DateTimeField(_("last seen"), default=timezone.now)
    requests_handled = models.PositiveBigIntegerField(_("requests handled"), default=0)

    class Meta:
        verbose_name = _("worker")
        verbose_name_plural = _("workers")
        constraints = [
            models.UniqueConstraint(fields=["kind", "host", "pid"], name="heartbeat_worker_unique"),
        ]
        indexes = [models.Index(fields=["kind", "last_seen_at"], name="heartbeat_kind_seen")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.host}:{self.pid}"
