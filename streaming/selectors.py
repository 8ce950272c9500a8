"""Read-side queries: what a user may see, session statistics and service health."""

from datetime import datetime, timedelta
from typing import cast

from django.conf import settings
from django.core.paginator import EmptyPage, Paginator
from django.db.models import Q, QuerySet
from django.utils import timezone

from school import roles
from streaming import live_stats
from streaming.engines.asr.languages import SessionLanguage
from streaming.errors import forbidden, invalid_field, not_found
from streaming.models import ConversationEntry, EntryRole, SessionStatus, StreamingSession, WorkerHeartbeat, WorkerKind
from streaming.shapes import Entry, EntryPage, ServiceHealth, Session, Stats

MAX_PAGE_SIZE = 200


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


def parse_id(raw: str | None, maximum: int = 2**63 - 1) -> int | None:
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


def entries_page(session: StreamingSession, page: str | None, page_size: str | None) -> EntryPage:
    size = _positive_int(page_size, "page_size", 50, MAX_PAGE_SIZE)
    number = _positive_int(page, "page", 1, 10**9)
    paginator = Paginator(session.entries.order_by("sequence"), size)
    try:
        items = paginator.page(number).object_list
    except EmptyPage:
        items = []
    return {
        "sessionId": str(session.id),
        "page": number,
        "pageSize": size,
        "count": paginator.count,
        "pages": paginator.num_pages,
        "results": [entry_dict(e) for e in items],
    }
