"""Read-side queries: what a user may see, session statistics and service health."""

import uuid
from datetime import datetime, timedelta
from typing import cast

from django.conf import settings
from django.core.paginator import EmptyPage, Paginator
from django.db.models import Q, QuerySet
from django.utils import timezone

from reading.models import PracticeText, ReadingAttempt
from reading.selectors import attempts_visible_to, texts_visible_to
from school import roles
from streaming import live_stats
from streaming.engines.asr.languages import SessionLanguage
from streaming.errors import forbidden, invalid_field, not_found
from streaming.models import ConversationEntry, EntryRole, SessionStatus, StreamingSession, WorkerHeartbeat, WorkerKind
from streaming.shapes import (
    Entry,
    EntryPage,
    ReadingAttemptPage,
    ReadingAttemptSummary,
    ReadingLanguage,
    ServiceHealth,
    Session,
    Stats,
)
from streaming.shapes import PracticeText as PracticeTextShape
from streaming.shapes import ReadingAttempt as ReadingAttemptShape

MAX_PAGE_SIZE = 200
MAX_ID = 2**63 - 1  # PostgreSQL's bigint: a larger id in a path is no row, not a database error


def sessions_visible_to(user: "roles.Person") -> QuerySet[StreamingSession]:
    """Operators see every session; teachers their own and their students'; students their own."""
    sessions = StreamingSession.objects.select_related("owner")
    if roles.is_operator(user):
        return sessions
    if roles.is_teacher(user):
        return sessions.filter(Q(owner=user.pk) | Q(owner__in=roles.taught_student_ids(user)))
    return sessions.filter(owner=user.pk)


def session_for_user(user: "roles.Person", session_id, *, stream: bool = False) -> StreamingSession:
    """The session if the user may act on it; `not_found` / `forbidden` otherwise.

    Viewing and closing (`stream=False`): the owner, an operator, or a teacher of the owner.
    Streaming audio or text into it (`stream=True`, the WebSocket): the owner or an operator
    only -- a teacher's connection would take over the student's live socket and write the
    student's transcript.
    """
    session = StreamingSession.objects.select_related("owner").filter(pk=session_id).first()
    if session is None:
        raise not_found()
    if session.owner_id == user.pk or roles.is_operator(user):
        return session
    if roles.teaches(user, session.owner_id):
        if stream:
            raise forbidden("Teachers may watch and close a student's session, not stream into it.")
        return session
    raise forbidden()


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def session_summary(session: StreamingSession) -> Session:
    """A session as the REST API returns it.

    Choice fields are cast, not converted: they hold their choices' values (checked on the way
    in), and the JSON carries the stored string.
    """
    return {
        "id": str(session.id),
        "owner": session.owner.get_username(),
        "language": cast(SessionLanguage, session.language),
        "status": cast(SessionStatus, session.status),
        "options": session.options,
        "createdAt": iso(session.created_at),
        "lastActivity": iso(session.last_activity_at),
        "closedAt": iso(session.closed_at) if session.closed_at else None,
        "audioSeconds": round(session.audio_seconds, 3),
        "chunksReceived": session.chunks_received,
        "bytesReceived": session.bytes_received,
        "websocketUrl": f"/api/v1/audio-streaming/ws/{session.id}",
    }


def session_stats(session: StreamingSession, live: dict | None = None) -> Stats:
    """The original service's stats shape; live figures come from the connection holding it."""
    live = live if live is not None else live_stats.read(session.id)
    return {
        "sessionId": str(session.id),
        "createdAt": iso(session.created_at),
        "lastActivity": iso(session.last_activity_at),
        "isActive": session.is_active,
        "language": cast(SessionLanguage, session.language),
        "conversationEntries": session.entries.count(),
        "bufferChunks": live["bufferChunks"],
        "bufferSize": live["bufferSize"],
        "pendingTranscriptions": live["pendingTranscriptions"],
        "pendingResponses": live["pendingResponses"],
        "audioSeconds": round(session.audio_seconds, 3),
        "status": cast(SessionStatus, session.status),
    }


def live_workers(kind: str) -> QuerySet[WorkerHeartbeat]:
    stale_after = timedelta(seconds=3 * settings.WORKER_HEARTBEAT_INTERVAL)
    return WorkerHeartbeat.objects.filter(kind=kind, last_seen_at__gte=timezone.now() - stale_after)


def service_health() -> ServiceHealth:
    """The original service-health shape, from the database and the worker heartbeats."""
    asr = list(live_workers(WorkerKind.ASR))
    tts_count = live_workers(WorkerKind.TTS).count()
    devices = sorted({w.device for w in asr if w.device})
    return {
        "totalSessions": StreamingSession.objects.count(),
        "activeSessions": StreamingSession.objects.filter(status=SessionStatus.ACTIVE).count(),
        "serviceStatus": {
            "isInitialized": bool(asr),
            "ttsInitialized": tts_count > 0,
            "modelSize": settings.WHISPER_MODEL,
            "device": ",".join(devices) or settings.WHISPER_DEVICE,
            "transcriptionWorkers": len(asr),
            "ttsWorkers": tts_count,
        },
    }


def entry_dict(entry: ConversationEntry) -> Entry:
    return {
        "id": entry.pk,
        "sequence": entry.sequence,
        "role": cast(EntryRole, entry.role),
        "text": entry.text,
        "language": entry.language,
        "audioDuration": round(entry.audio_duration, 3),
        "audioStart": entry.audio_start,
        "audioEnd": entry.audio_end,
        "latency": entry.latency,
        "createdAt": iso(entry.created_at),
    }


def parse_id(raw: str | None, maximum: int = MAX_ID) -> int | None:
    """A query parameter as a whole number from 0 to `maximum`, or None.

    ASCII digits only: `str.isdigit` also accepts "²", which `int` refuses, and `int` refuses
    more than 4300 digits, so both are checked before converting.
    """
    if raw is None or not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(maximum)):
        return None
    value = int(raw)
    return value if value <= maximum else None


def _positive_int(raw: str | None, field: str, default: int, maximum: int) -> int:
    if raw in (None, ""):
        return default
    value = parse_id(raw, maximum)
    if value is None or value < 1:
        raise invalid_field(field, f"{field} must be an integer from 1 to {maximum}.")
    return value


def _page(queryset: QuerySet, page: str | None, page_size: str | None) -> tuple[Paginator, int, list]:
    """(paginator, page number, the page's items) of `page` and `page_size` as the client sent them."""
    size = _positive_int(page_size, "page_size", 50, MAX_PAGE_SIZE)
    number = _positive_int(page, "page", 1, 10**9)
    paginator = Paginator(queryset, size)
    try:
        items = list(paginator.page(number).object_list)
    except EmptyPage:
        items = []
    return paginator, number, items


def entries_page(session: StreamingSession, page: str | None, page_size: str | None) -> EntryPage:
    paginator, number, items = _page(session.entries.order_by("sequence"), page, page_size)
    return {
        "sessionId": str(session.id),
        "page": number,
        "pageSize": paginator.per_page,
        "count": paginator.count,
        "pages": paginator.num_pages,
        "results": [entry_dict(e) for e in items],
    }


# --- reading practice (texts and attempts of the reading app, in the API's shapes) ---------------


def practice_text_dict(text: PracticeText) -> PracticeTextShape:
    """A practice text with its words as the reading is scored (`connected`'s `practice` too)."""
    return {
        "id": text.pk,
        "title": text.title,
        "language": cast(ReadingLanguage, text.language),
        "text": text.text,
        "source": text.source,
        "words": [{"text": t.text, "offset": t.offset} for t in text.reference().tokens],
    }


def practice_text_for_user(user: "roles.Person", text_id: int) -> PracticeText:
    """A text the user may read; `not_found` otherwise (whether it exists is not told)."""
    text = texts_visible_to(user).filter(pk=text_id).first() if text_id <= MAX_ID else None
    if text is None:
        raise not_found("practice text")
    return text


def attempt_summary(attempt: ReadingAttempt) -> ReadingAttemptSummary:
    return {
        "id": attempt.pk,
        "sessionId": str(attempt.session_id),
        "student": attempt.student.get_username(),
        "textId": attempt.text_id,
        "textTitle": attempt.text.title,
        "language": cast(ReadingLanguage, attempt.text.language),
        "accuracy": round(attempt.accuracy, 4),
        "wcpm": round(attempt.wcpm, 1),
        "duration": round(attempt.duration, 3),
        "createdAt": iso(attempt.created_at),
    }


def attempt_dict(attempt: ReadingAttempt) -> ReadingAttemptShape:
    return {**attempt_summary(attempt), "results": attempt.results}


def attempt_for_user(user: "roles.Person", attempt_id: int) -> ReadingAttempt:
    """As sessions' rule (`attempts_visible_to`), but someone else's attempt is `not_found`: an
    attempt's id says nothing the caller may not know."""
    attempt = attempts_visible_to(user).filter(pk=attempt_id).first() if attempt_id <= MAX_ID else None
    if attempt is None:
        raise not_found("reading attempt")
    return attempt


def attempts_page(user: "roles.Person", query: dict[str, str]) -> ReadingAttemptPage:
    """The attempts the user may see, newest first, filtered by `session` (a session id) and
    `text` (a practice text id)."""
    attempts = attempts_visible_to(user).order_by("-created_at", "-pk")
    if query.get("session") is not None:
        try:
            session_id = uuid.UUID(query["session"])
        except ValueError:
            raise invalid_field("session", "session must be a session id (a UUID).") from None
        attempts = attempts.filter(session_id=session_id)
    if query.get("text") is not None:
        text_id = parse_id(query["text"])
        if text_id is None:
            raise invalid_field("text", "text must be a practice text id (ASCII digits).")
        attempts = attempts.filter(text_id=text_id)
    paginator, number, items = _page(attempts, query.get("page"), query.get("page_size"))
    return {
        "page": number,
        "pageSize": paginator.per_page,
        "count": paginator.count,
        "pages": paginator.num_pages,
        "results": [attempt_summary(a) for a in items],
    }
