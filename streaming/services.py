"""Business operations on streaming sessions: create, close, touch, expire, record entries."""

from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Literal, TypedDict, get_args

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max
from django.utils import timezone

from reading.models import PracticeText
from reading.selectors import texts_visible_to
from streaming import asr_models
from streaming.core.audio import SAMPLE_RATE
from streaming.engines.asr.languages import SESSION_LANGUAGES, SessionLanguage
from streaming.errors import ServiceError, invalid_field
from streaming.models import ApiToken, ConversationEntry, EntryRole, SessionStatus, StreamingSession, hash_token
from streaming.shapes import Doc

if TYPE_CHECKING:
    from django.contrib.auth.models import User

TtsTransport = Literal["json", "binary"]
TtsEncoding = Literal["hex", "base64"]
TtsFormat = Literal["pcm_s16le", "wav"]
TTS_TRANSPORTS, TTS_ENCODINGS, TTS_FORMATS = get_args(TtsTransport), get_args(TtsEncoding), get_args(TtsFormat)
MIN_INPUT_RATE, MAX_INPUT_RATE = 8000, 192000


@dataclass(frozen=True)
class SessionOptions:
    """What a client may choose per session; validated once at creation."""

    input_sample_rate: int = 16000
    tts_transport: TtsTransport = "json"
    tts_encoding: TtsEncoding = "hex"
    tts_format: TtsFormat = "pcm_s16le"

    @classmethod
    def from_request(cls, data: dict) -> "SessionOptions":
        rate = data.get("input_sample_rate", SAMPLE_RATE)
        if isinstance(rate, bool) or not isinstance(rate, int) or not MIN_INPUT_RATE <= rate <= MAX_INPUT_RATE:
            raise invalid_field(
                "input_sample_rate", f"input_sample_rate must be an integer from {MIN_INPUT_RATE} to {MAX_INPUT_RATE}."
            )
        choices = {"tts_transport": TTS_TRANSPORTS, "tts_encoding": TTS_ENCODINGS, "tts_format": TTS_FORMATS}
        values = {}
        for field, allowed in choices.items():
            value = data.get(field, getattr(cls, field))
            if value not in allowed:
                raise invalid_field(field, f"{field} must be one of: {', '.join(allowed)}.")
            values[field] = value
        return cls(input_sample_rate=rate, **values)

    def as_dict(self) -> dict:
        return {
            "input_sample_rate": self.input_sample_rate,
            "tts_transport": self.tts_transport,
            "tts_encoding": self.tts_encoding,
            "tts_format": self.tts_format,
        }


class NewSession(TypedDict, total=False):
    """The body of `POST /sessions`; every field is optional."""

    language: Annotated[
        SessionLanguage,
        Doc("What the student speaks; zh and auto need a multilingual WHISPER_MODEL.", default="en"),
    ]
    input_sample_rate: Annotated[
        int,
        Doc(
            "The rate (Hz) of the audio the client will send; the default is the models' 16000.",
            minimum=MIN_INPUT_RATE,
            maximum=MAX_INPUT_RATE,
            default=SessionOptions.input_sample_rate,
        ),
    ]
    tts_transport: Annotated[
        TtsTransport,
        Doc(
            "Reply audio inside the tts_audio message, or as a binary frame after it.",
            default=SessionOptions.tts_transport,
        ),
    ]
    tts_encoding: Annotated[
        TtsEncoding, Doc("How reply audio is encoded in a JSON message.", default=SessionOptions.tts_encoding)
    ]
    tts_format: Annotated[
        TtsFormat, Doc("Raw 16-bit little-endian PCM, or a WAV file.", default=SessionOptions.tts_format)
    ]
    practice_text_id: Annotated[
        int,
        Doc(
            "A reading-practice session: the practice text to read (one of GET /practice-texts). The "
            "session's language is the text's (a different `language` is refused); the tutor does not reply.",
            minimum=1,
        ),
    ]


def validate_language(language: object) -> str:
    if not isinstance(language, str) or language not in SESSION_LANGUAGES:
        raise invalid_field("language", f"language must be one of: {', '.join(SESSION_LANGUAGES)}.")
    if not asr_models.supports(language):
        raise ServiceError(
            "language_unsupported",
            f"The speech model configured for '{language}' ({asr_models.model_for(language).name}) is "
            "English-only; set WHISPER_MULTILINGUAL_MODEL to a multilingual model (the bundled 'base').",
            HTTPStatus.BAD_REQUEST,
            field="language",
        )
    reason = asr_models.unavailable_reason(language)
    if reason is not None:
        raise ServiceError("language_unavailable", reason, HTTPStatus.SERVICE_UNAVAILABLE, field="language")
    return language


# The key of the PostgreSQL advisory lock that session creations take in turn ("LLBV").
SESSION_CREATION_LOCK = 0x4C4C4256


def _serialise_session_creation() -> None:
    """Hold, until the transaction ends, the lock that every session creation takes: two
    creations cannot both count the active sessions before either is saved, so neither the
    per-user nor the service-wide limit is passed. (Locking only the user's row let parallel
    creations by different users through: docs/decisions/0038.) SQLite needs no lock: its
    transactions begin IMMEDIATE (llb/settings.py), which already runs writers one at a time."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SESSION_CREATION_LOCK])


def practice_text(user: "User", raw: object) -> PracticeText:
    """The practice text a session reads: one the user may see (docs/decisions/0041)."""
    text_id = raw if isinstance(raw, int) and not isinstance(raw, bool) else 0
    text = texts_visible_to(user).filter(pk=text_id).first() if 0 < text_id < 2**63 else None  # a bigint
    if text is None:
        raise invalid_field("practice_text_id", "practice_text_id must be the id of a practice text you may read.")
    return text


def create_session(*, user: "User", data: dict) -> StreamingSession:
    """Create an active session, refusing past the per-user and service-wide limits.

    With `practice_text_id` it is a reading-practice session, in the text's language; the id is
    kept in its options, where the WebSocket finds it.
    """
    options = SessionOptions.from_request(data).as_dict()
    if data.get("practice_text_id") is not None:
        text = practice_text(user, data["practice_text_id"])
        if data.get("language", text.language) != text.language:
            raise invalid_field("language", f"The practice text is read in '{text.language}'.")
        language = validate_language(text.language)
        options["practice_text_id"] = text.pk
    else:
        language = validate_language(data.get("language", "en"))
    with transaction.atomic():
        _serialise_session_creation()
        active = StreamingSession.objects.filter(status=SessionStatus.ACTIVE)
        if active.filter(owner=user).count() >= settings.MAX_SESSIONS_PER_USER:
            raise ServiceError(
                "too_many_sessions",
                f"You already have {settings.MAX_SESSIONS_PER_USER} active sessions; end one first.",
                HTTPStatus.TOO_MANY_REQUESTS,
            )
        if active.count() >= settings.MAX_ACTIVE_SESSIONS:
            raise ServiceError(
                "server_full",
                "The service is at its session limit; try again shortly.",
                HTTPStatus.SERVICE_UNAVAILABLE,
            )
        return StreamingSession.objects.create(owner=user, language=language, options=options)


def end_session(session: StreamingSession, status: str = SessionStatus.CLOSED) -> StreamingSession:
    """Close (or expire) an active session; ending it twice is a conflict."""
    with transaction.atomic():
        locked = StreamingSession.objects.select_for_update().get(pk=session.pk)
        if not locked.is_active:
            raise ServiceError("session_not_active", f"The session is already {locked.status}.", HTTPStatus.CONFLICT)
        locked.end(status)
        locked.save(update_fields=["status", "closed_at"])
    return locked


def touch_session(
    session_id,
    *,
    audio_seconds: float = 0.0,
    chunks: int = 0,
    nbytes: int = 0,
    transcribed_seconds: float | None = None,
) -> None:
    """Record activity and received audio without reading the row (called in batches, not per frame),
    and where a reconnecting client would resume (`transcribed_seconds`, docs/decisions/0046)."""
    resume = {} if transcribed_seconds is None else {"transcribed_seconds": transcribed_seconds}
    StreamingSession.objects.filter(pk=session_id).update(
        last_activity_at=timezone.now(),
        audio_seconds=F("audio_seconds") + audio_seconds,
        chunks_received=F("chunks_received") + chunks,
        bytes_received=F("bytes_received") + nbytes,
        **resume,
    )


def begin_handover(session_id, *, until: float) -> None:
    """A dropped connection finishes its turn until `until` (epoch seconds): the next connection of
    the session waits for it before it tells its client where to resume."""
    StreamingSession.objects.filter(pk=session_id).update(handover={"finishing_until": until})


def end_handover(session_id, *, finals: list[dict]) -> None:
    """The dropped connection's turn is saved: the finals its client never received wait for the
    next connection."""
    StreamingSession.objects.filter(pk=session_id).update(handover={"finals": finals})


@transaction.atomic
def take_over(session_id) -> tuple[StreamingSession, list[dict]]:
    """A connection starts: the session with its audio timeline ending at the resume point, and the
    finals the previous connection could not deliver (taken: sent once).

    The resume point is the later of the last counters' `transcribed_seconds` and the end of the
    last saved utterance. Audio received after it was lost with its process (a killed daphne): the
    timeline is set to it, so the client sends that audio again at the same session times
    (docs/decisions/0046).
    """
    session = StreamingSession.objects.select_for_update().get(pk=session_id)
    last_end = (
        session.entries.filter(role=EntryRole.USER, audio_end__isnull=False)
        .order_by("-sequence")
        .values_list("audio_end", flat=True)
        .first()
    )
    resume = max(session.transcribed_seconds, last_end or 0.0)
    finals = list(session.handover.get("finals", []))
    session.audio_seconds = session.transcribed_seconds = resume
    session.handover = {}
    session.save(update_fields=["audio_seconds", "transcribed_seconds", "handover"])
    return session, finals


def expire_inactive_sessions(now=None) -> list:
    """Expire active sessions idle for longer than SESSION_TIMEOUT; returns their ids."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SESSION_TIMEOUT)
    with transaction.atomic():
        idle = StreamingSession.objects.select_for_update().filter(
            status=SessionStatus.ACTIVE, last_activity_at__lt=cutoff
        )
        ids = list(idle.values_list("id", flat=True))
        StreamingSession.objects.filter(id__in=ids).update(status=SessionStatus.EXPIRED, closed_at=now)
    return ids


def add_entry(session_id, *, role: str, text: str, language: str, **timing: float | None) -> ConversationEntry:
    """Append an entry with the next sequence number (retrying if another writer took it).

    `timing`: audio_duration, audio_start, audio_end, latency, word_latency (see the model).
    """
    entry = ConversationEntry(session_id=session_id, role=role, text=text, language=language, **timing)
    entry.clean()
    for _ in range(5):
        try:
            with transaction.atomic():
                last = ConversationEntry.objects.filter(session_id=session_id).aggregate(m=Max("sequence"))["m"]
                entry.sequence = (last or 0) + 1
                entry.save(force_insert=True)
            StreamingSession.objects.filter(pk=session_id).update(last_activity_at=timezone.now())
            return entry
        except IntegrityError:
            continue
    raise ServiceError("conflict", "Could not allocate an entry number.", HTTPStatus.CONFLICT)


def add_user_utterance(session_id, **fields) -> ConversationEntry:
    return add_entry(session_id, role=EntryRole.USER, **fields)


def add_assistant_reply(session_id, **fields) -> ConversationEntry:
    return add_entry(session_id, role=EntryRole.ASSISTANT, **fields)


def issue_api_token(*, user: "User", name: str) -> tuple[ApiToken, str]:
    token = ApiToken(user=user, name=name)
    raw = token.assign_new_key()
    token.save()
    return token, raw


def bearer_token(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def authenticate_token(raw: str):
    """The active user owning this bearer token, or None."""
    if not raw:
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_token(raw), is_active=True).first()
    if token is None or not token.user.is_active:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.user
