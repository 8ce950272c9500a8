"""Streaming sessions, their transcript entries, API tokens and worker heartbeats."""

import hashlib
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class SessionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    CLOSED = "closed", "Closed"
    EXPIRED = "expired", "Expired"


class StreamingSession(models.Model):
    """One student's conversation; audio counters move as the WebSocket receives audio."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="streaming_sessions")
    language = models.CharField(max_length=16, default="en")
    status = models.CharField(max_length=16, choices=SessionStatus.choices, default=SessionStatus.ACTIVE)
    options = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_activity_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    audio_seconds = models.FloatField(default=0.0)
    chunks_received = models.PositiveBigIntegerField(default=0)
    bytes_received = models.PositiveBigIntegerField(default=0)

    class Meta:
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
        return f"{self.id} ({self.owner}, {self.status})"

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
    USER = "user", "Student"
    ASSISTANT = "assistant", "Tutor"


class ConversationEntry(models.Model):
    """One finished utterance or reply; `sequence` orders a session's transcript."""

    session = models.ForeignKey(StreamingSession, on_delete=models.CASCADE, related_name="entries")
    sequence = models.PositiveIntegerField()
    role = models.CharField(max_length=16, choices=EntryRole.choices)
    text = models.TextField()
    language = models.CharField(max_length=16, default="en")
    audio_duration = models.FloatField(default=0.0)
    audio_start = models.FloatField(null=True, blank=True)  # seconds in the session's audio
    audio_end = models.FloatField(null=True, blank=True)
    latency = models.FloatField(null=True, blank=True)  # final delay (user) / first audio (reply)
    word_latency = models.FloatField(null=True, blank=True)  # median word latency (user)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["session", "sequence"]
        verbose_name_plural = "conversation entries"
        constraints = [
            models.UniqueConstraint(fields=["session", "sequence"], name="entry_sequence_unique"),
        ]
        indexes = [
            models.Index(fields=["created_at"], name="entry_created"),
            models.Index(fields=["role", "created_at"], name="entry_role_created"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.role}: {self.text[:40]}"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token for API clients; only its hash is stored, the key is shown once."""

    PREFIX_LENGTH = 8

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=PREFIX_LENGTH, editable=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def assign_new_key(self) -> str:
        """Set a fresh random key and return it; it cannot be read back later."""
        raw = secrets.token_urlsafe(32)
        self.key_hash = hash_token(raw)
        self.prefix = raw[: self.PREFIX_LENGTH]
        return raw


class WorkerKind(models.TextChoices):
    ASR = "asr", "Speech recognition"
    TTS = "tts", "Speech synthesis"


class WorkerHeartbeat(models.Model):
    """Last sign of life from one ASR or TTS worker process."""

    kind = models.CharField(max_length=8, choices=WorkerKind.choices)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    model = models.CharField(max_length=255, blank=True)
    device = models.CharField(max_length=32, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    requests_handled = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "host", "pid"], name="heartbeat_worker_unique"),
        ]
        indexes = [models.Index(fields=["kind", "last_seen_at"], name="heartbeat_kind_seen")]

    def __str__(self) -> str:
        return f"{self.kind} {self.host}:{self.pid}"
