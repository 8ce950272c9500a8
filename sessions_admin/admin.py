"""Admin for sessions and transcripts, classrooms, API tokens, workers and the health dashboard.

Roles (see school/roles.py): operators see and manage everything here; teachers see
the sessions and transcripts of their students (and their own) and may close them, nothing
else. Transcripts are records, so they are read-only for everyone; only a superuser deletes.
"""

import re
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, TypeAlias, TypedDict

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Avg, CharField, Count, DurationField, ExpressionWrapper, F, Max, Q, QuerySet
from django.db.models.functions import Cast, Coalesce
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from llb import charts
from school.models import Classroom
from school.roles import is_operator, is_teacher
from sessions_admin.models import ServiceHealth
from streaming import live_stats, selectors, services
from streaming.core.audio import SAMPLE_RATE
from streaming.errors import ServiceError
from streaming.models import (
    ApiToken,
    ConversationEntry,
    EntryRole,
    SessionStatus,
    StreamingSession,
    WorkerHeartbeat,
    WorkerKind,
)
from streaming.realtime.messages import notify_session_ended
from streaming.selectors import sessions_visible_to
from streaming.web import dashboard

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    class SessionFigures(TypedDict):
        """What `StreamingSessionAdmin.get_queryset` annotates each session with."""

        n_entries: int
        mean_final_delay: float | None
        max_final_delay: float | None
        mean_word_latency: float | None
        mean_first_audio: float | None
        span: timedelta | None

    class ClassroomFigures(TypedDict):
        """What `ClassroomAdmin.get_queryset` annotates each classroom with."""

        n_students: int

    AnnotatedSession: TypeAlias = WithAnnotations[StreamingSession, SessionFigures]
    AnnotatedClassroom: TypeAlias = WithAnnotations[Classroom, ClassroomFigures]

SHORT_ID = re.compile(r"^[0-9a-f]{4,8}$")


def _seconds(value: float | None, digits: int = 2) -> str:
    """Seconds for people: a fixed number of decimals, never a float's full repr."""
    return "—" if value is None else f"{value:.{digits}f} s"


def _seconds_column(field: str, description, digits: int = 2):
    """A list column or read-only field showing a float field of seconds as `_seconds` does."""

    @admin.display(description=description, ordering=field)
    def column(obj) -> str:
        return _seconds(getattr(obj, field), digits)

    column.__name__ = field  # how the admin tells its columns apart
    return column


audio_start = _seconds_column("audio_start", _("audio start"), 1)
audio_end = _seconds_column("audio_end", _("audio end"), 1)
audio_length = _seconds_column("audio_duration", _("audio length"), 1)
latency = _seconds_column("latency", _("latency"))
word_latency = _seconds_column("word_latency", _("word latency"))


def _duration(value) -> str:
    if value is None:
        return "—"
    total = int(value.total_seconds())
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


class OperatorAdmin(admin.ModelAdmin):
    """Operators may view and manage; teachers may view only if `teachers_view` is set."""

    teachers_view = False

    def _may_view(self, request: HttpRequest) -> bool:
        return is_operator(request.user) or (self.teachers_view and is_teacher(request.user))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may_view(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._may_view(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_operator(request.user)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_operator(request.user)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_operator(request.user)


class ReadOnlyRecordAdmin(OperatorAdmin):
    """Records written by the service: nobody edits them here; only a superuser deletes."""

    teachers_view = True

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        """Without the admin's navigation sidebar: the records' columns need the width (1280 px screens)."""
        return super().changelist_view(request, {"is_nav_sidebar_enabled": False, **(extra_context or {})})


# --- sessions and transcripts ------------------------------------------------------------------


class EntryInline(admin.TabularInline):
    """The conversation, read-only, in order."""

    model = ConversationEntry
    fields = ("sequence", "role", "text", audio_start, audio_end, latency, word_latency, "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("sequence",)
    verbose_name = _("transcript entry")
    verbose_name_plural = _("transcript")

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_operator(request.user) or is_teacher(request.user)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ClassroomFilter(admin.SimpleListFilter):
    """Sessions of one class's students; teachers are offered their own classes only."""

    title = _("classroom")
    parameter_name = "classroom"

    def lookups(self, request, model_admin):
        classes = Classroom.objects.all()
        if not is_operator(request.user):
            classes = classes.filter(teachers=request.user)
        return [(str(c.pk), c.name) for c in classes]

    def queryset(self, request, queryset):
        pk = selectors.parse_id(self.value())  # a malformed value filters nothing, never a 500
        return queryset if pk is None else queryset.filter(owner__classrooms__pk=pk)


def _end_sessions(queryset: QuerySet, status: str) -> int:
    ended = 0
    for session in queryset.filter(status=SessionStatus.ACTIVE):
        try:
            session = services.end_session(session, status)
        except ServiceError:
            continue  # ended meanwhile by someone else
        notify_session_ended(session.id, session.status)
        ended += 1
    return ended


@admin.register(StreamingSession)
class StreamingSessionAdmin(ReadOnlyRecordAdmin):
    list_display = (
        "short_id",
        "owner",
        "language",
        "status",
        "started",
        "duration",
        "entry_count",
        "audio",
        "final_delay",
    )
    list_display_links = ("short_id",)
    list_filter = ("status", "language", ClassroomFilter, "created_at")
    search_fields = ("owner__username", "owner__first_name", "owner__last_name", "entries__text")
    search_help_text = _("Session id, student name, or words said in the session.")
    date_hierarchy = "created_at"
    list_select_related = ("owner",)
    list_per_page = 50
    actions = ("close_sessions", "expire_sessions")
    inlines = [EntryInline]
    fields = (
        "id",
        "owner",
        "language",
        "status",
        "created_at",
        "last_activity_at",
        "closed_at",
        "duration",
        "entry_count",
        "audio",
        "chunks_received",
        "received",
        "final_delay_mean",
        "final_delay_max",
        "word_latency_mean",
        "first_audio_mean",
        "live_figures",
        "options",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        sessions = super().get_queryset(request)
        if not is_operator(request.user):
            sessions = sessions.filter(pk__in=sessions_visible_to(request.user).values("pk"))
        user_entry, reply = Q(entries__role=EntryRole.USER), Q(entries__role=EntryRole.ASSISTANT)
        return sessions.annotate(
            n_entries=Count("entries", distinct=True),
            mean_final_delay=Avg("entries__latency", filter=user_entry),
            max_final_delay=Max("entries__latency", filter=user_entry),
            mean_word_latency=Avg("entries__word_latency", filter=user_entry),
            mean_first_audio=Avg("entries__latency", filter=reply),
            span=ExpressionWrapper(
                Coalesce("closed_at", "last_activity_at") - F("created_at"), output_field=DurationField()
            ),
        )

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        """Also find a session by its id, or by the short id shown in the list."""
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip().lower()
        try:
            by_id = Q(pk=uuid.UUID(term))
        except ValueError:
            if not SHORT_ID.match(term):
                return found, may_have_duplicates
            prefixed = StreamingSession.objects.alias(id_text=Cast("id", CharField())).filter(id_text__startswith=term)
            by_id = Q(pk__in=prefixed.values("pk"))
        return queryset.filter(Q(pk__in=found.values("pk")) | by_id), False

    @admin.display(description=_("session"), ordering="created_at")
    def short_id(self, obj: StreamingSession) -> str:
        return str(obj.id)[:8]

    @admin.display(description=_("started"), ordering="created_at")
    def started(self, obj: StreamingSession) -> str:
        return date_format(timezone.localtime(obj.created_at), "Y-m-d H:i")

    @admin.display(description=_("duration"), ordering="span")
    def duration(self, obj: "AnnotatedSession") -> str:
        return _duration(obj.span)

    @admin.display(description=_("entries"), ordering="n_entries")
    def entry_count(self, obj: "AnnotatedSession") -> int:
        return obj.n_entries

    @admin.display(description=_("audio"), ordering="audio_seconds")
    def audio(self, obj: StreamingSession) -> str:
        return _seconds(obj.audio_seconds, 1)

    @admin.display(description=_("bytes received"), ordering="bytes_received")
    def received(self, obj: StreamingSession) -> str:
        return filesizeformat(obj.bytes_received)

    @admin.display(description=_("final delay (mean)"), ordering="mean_final_delay")
    def final_delay_mean(self, obj: "AnnotatedSession") -> str:
        return _seconds(obj.mean_final_delay)

    @admin.display(description=_("final delay (max)"), ordering="max_final_delay")
    def final_delay_max(self, obj: "AnnotatedSession") -> str:
        return _seconds(obj.max_final_delay)

    @admin.display(description=_("final delay (mean / max)"), ordering="mean_final_delay")
    def final_delay(self, obj: "AnnotatedSession") -> str:
        if obj.mean_final_delay is None:
            return "—"
        return f"{obj.mean_final_delay:.2f} / {obj.max_final_delay:.2f} s"

    @admin.display(description=_("word latency (mean)"), ordering="mean_word_latency")
    def word_latency_mean(self, obj: "AnnotatedSession") -> str:
        return _seconds(obj.mean_word_latency)

    @admin.display(description=_("reply first audio (mean)"), ordering="mean_first_audio")
    def first_audio_mean(self, obj: "AnnotatedSession") -> str:
        return _seconds(obj.mean_first_audio)

    @admin.display(description=_("live (connection holding it)"))
    def live_figures(self, obj: StreamingSession) -> str:
        live = live_stats.read(obj.id)
        buffered = live["bufferSize"] / 2 / SAMPLE_RATE  # PCM16 bytes
        return gettext(
            "buffered audio %(buffered)s (%(chunks)d chunks), transcriptions pending %(transcriptions)d, "
            "replies pending %(replies)d"
        ) % {
            "buffered": _seconds(buffered, 1),
            "chunks": live["bufferChunks"],
            "transcriptions": live["pendingTranscriptions"],
            "replies": live["pendingResponses"],
        }

    # Actions: teachers may close their students' sessions; expiring is an operator's call.

    def has_close_permission(self, request: HttpRequest) -> bool:
        return is_operator(request.user) or is_teacher(request.user)

    def has_expire_permission(self, request: HttpRequest) -> bool:
        return is_operator(request.user)

    @admin.action(description=_("Close the selected sessions"), permissions=["close"])
    def close_sessions(self, request: HttpRequest, queryset: QuerySet) -> None:
        ended = _end_sessions(queryset, SessionStatus.CLOSED)
        self.message_user(
            request, ngettext("Closed %d session.", "Closed %d sessions.", ended) % ended, messages.SUCCESS
        )

    @admin.action(description=_("Expire the selected sessions"), permissions=["expire"])
    def expire_sessions(self, request: HttpRequest, queryset: QuerySet) -> None:
        ended = _end_sessions(queryset, SessionStatus.EXPIRED)
        self.message_user(
            request, ngettext("Expired %d session.", "Expired %d sessions.", ended) % ended, messages.SUCCESS
        )


@admin.register(ConversationEntry)
class ConversationEntryAdmin(ReadOnlyRecordAdmin):
    list_display = ("created_at", "session_link", "owner", "sequence", "role", "text", latency, word_latency)
    list_filter = ("role", "language", "created_at")
    search_fields = ("text",)
    search_help_text = _("Words said or replied.")
    date_hierarchy = "created_at"
    list_select_related = ("session__owner",)
    list_per_page = 100
    fields = (
        "session_link",
        "owner",
        "sequence",
        "role",
        "text",
        "language",
        audio_length,
        audio_start,
        audio_end,
        latency,
        word_latency,
        "created_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        entries = super().get_queryset(request)
        if not is_operator(request.user):
            entries = entries.filter(session__in=sessions_visible_to(request.user).values("pk"))
        return entries

    @admin.display(description=_("session"), ordering="session")
    def session_link(self, obj: ConversationEntry) -> str:
        url = reverse("admin:streaming_streamingsession_change", args=[obj.session_id])
        return format_html('<a href="{}">{}</a>', url, str(obj.session_id)[:8])

    @admin.display(description=_("user"), ordering="session__owner__username")
    def owner(self, obj: ConversationEntry):
        return obj.session.owner


# --- school, tokens, workers ---------------------------------------------------------------------


@admin.register(Classroom)
class ClassroomAdmin(OperatorAdmin):
    list_display = ("name", "teacher_names", "student_count")
    search_fields = ("name", "teachers__username", "students__username")
    filter_horizontal = ("teachers", "students")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(n_students=Count("students", distinct=True))

    @admin.display(description=_("teachers"))
    def teacher_names(self, obj: Classroom) -> str:
        return ", ".join(t.get_username() for t in obj.teachers.all())

    @admin.display(description=_("students"), ordering="n_students")
    def student_count(self, obj: "AnnotatedClassroom") -> int:
        return obj.n_students


@admin.register(ApiToken)
class ApiTokenAdmin(OperatorAdmin):
    list_display = ("name", "user", "prefix", "is_active", "created_at", "last_used_at")
    list_filter = ("is_active",)
    search_fields = ("name", "user__username", "prefix")
    readonly_fields = ("prefix", "created_at", "last_used_at")
    fields = ("user", "name", "is_active", "prefix", "created_at", "last_used_at")

    def save_model(self, request, obj: ApiToken, form, change) -> None:
        if not change:
            raw = obj.assign_new_key()
            messages.warning(
                request,
                gettext("The key for “%(name)s” is %(key)s — copy it now, it is not shown again.")
                % {"name": obj.name, "key": raw},
            )
        super().save_model(request, obj, form, change)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(OperatorAdmin):
    list_display = ("kind", "host", "pid", "model", "device", "started_at", "last_seen_at", "requests_handled", "alive")
    list_filter = ("kind", "host")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(boolean=True, description=_("alive"))
    def alive(self, obj: WorkerHeartbeat) -> bool:
        stale_after = timedelta(seconds=3 * settings.WORKER_HEARTBEAT_INTERVAL)
        return obj.last_seen_at >= timezone.now() - stale_after


@admin.register(ServiceHealth)
class ServiceHealthAdmin(OperatorAdmin):
    """The dashboard: its 'list' page is the health page, plus the same figures as JSON."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_urls(self):
        data = self.admin_site.admin_view(self.data_view)
        return [path("data.json", data, name="sessions_admin_servicehealth_data"), *super().get_urls()]

    def _refuse_unless_viewer(self, request: HttpRequest) -> None:
        if not self.has_view_permission(request):
            raise PermissionDenied

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        self._refuse_unless_viewer(request)
        now = timezone.now()
        figures = dashboard.health_figures(now)
        sessions = dashboard.sessions_series(now)
        latency = dashboard.latency_series(now)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Service health"),
            "opts": self.model._meta,
            "figures": figures,
            "generated_at": now,
            "workers": _worker_rows(figures["workers"]),
            "latency_rows": _latency_rows(figures["latency"]),
            "sessions_chart": charts.line_chart(gettext("Sessions, last 24 hours"), sessions.starts, sessions.lines),
            "latency_chart": charts.line_chart(gettext("Latency, last 24 hours"), latency.starts, latency.lines, " s"),
            "data_url": reverse("admin:sessions_admin_servicehealth_data"),
        }
        return TemplateResponse(request, "admin/sessions_admin/service_health.html", context)

    def data_view(self, request: HttpRequest) -> JsonResponse:
        self._refuse_unless_viewer(request)
        return JsonResponse(dashboard.health_figures())


def _worker_rows(workers: list[dashboard.Worker]) -> list[dict]:
    """The JSON's worker rows with times the template can format and the kind's name."""
    return [
        {
            **w,
            "kind_name": WorkerKind(w["kind"]).label,
            "started": parse_datetime(w["startedAt"]),
            "last_seen": parse_datetime(w["lastSeen"]),
        }
        for w in workers
    ]


def _latency_rows(latency: dict) -> list[dict]:
    """Rows for the template: one per figure and window."""
    names = {"finalDelay": _("Final delay"), "wordLatency": _("Word latency"), "firstAudio": _("Reply first audio")}
    rows = []
    for key, label in names.items():
        for window, title in (("last5m", _("5 min")), ("last60m", _("60 min"))):
            rows.append({"label": label, "window": title, **latency[window][key]})
    return rows
