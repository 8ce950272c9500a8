"""Admin for sessions and transcripts, classrooms, API tokens, workers and the health dashboard.

Roles (see school/roles.py): operators see and manage everything here; teachers see
the sessions and transcripts of their students (and their own) and may close them, nothing
else. Transcripts are records, so they are read-only for everyone; only a superuser deletes.
"""

import re
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Avg, CharField, Count, DurationField, ExpressionWrapper, F, Max, Q, QuerySet
from django.db.models.functions import Cast, Coalesce
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from school.models import Classroom
from school.roles import is_operator, is_teacher
from sessions_admin import charts
from sessions_admin.models import ServiceHealth
from streaming import live_stats, services
from streaming.errors import ServiceError
from streaming.models import (
    ApiToken,
    ConversationEntry,
    EntryRole,
    SessionStatus,
    StreamingSession,
    WorkerHeartbeat,
)
from streaming.realtime.messages import notify_session_ended
from streaming.selectors import sessions_visible_to
from streaming.web import dashboard

SHORT_ID = re.compile(r"^[0-9a-f]{4,8}$")


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


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


# --- sessions and transcripts ------------------------------------------------------------------


class EntryInline(admin.TabularInline):
    """The conversation, read-only, in order."""

    model = ConversationEntry
    fields = ("sequence", "role", "text", "audio_start", "audio_end", "latency", "word_latency", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("sequence",)
    verbose_name = "transcript entry"
    verbose_name_plural = "transcript"

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

    title = "classroom"
    parameter_name = "classroom"

    def lookups(self, request, model_admin):
        classes = Classroom.objects.all()
        if not is_operator(request.user):
            classes = classes.filter(teachers=request.user)
        return [(str(c.pk), c.name) for c in classes]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(owner__classrooms__pk=int(self.value()))
        return queryset


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
        "created_at",
        "last_activity_at",
        "duration",
        "entry_count",
        "audio",
        "final_delay",
        "word_latency_mean",
        "first_audio_mean",
    )
    list_display_links = ("short_id",)
    list_filter = ("status", "language", ClassroomFilter, "created_at")
    search_fields = ("owner__username", "owner__first_name", "owner__last_name", "entries__text")
    search_help_text = "Session id, student name, or words said in the session."
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
        "audio_seconds",
        "chunks_received",
        "bytes_received",
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

    @admin.display(description="session", ordering="created_at")
    def short_id(self, obj: StreamingSession) -> str:
        return str(obj.id)[:8]

    @admin.display(ordering="span")
    def duration(self, obj: StreamingSession) -> str:
        return _duration(obj.span)

    @admin.display(description="entries", ordering="n_entries")
    def entry_count(self, obj: StreamingSession) -> int:
        return obj.n_entries

    @admin.display(description="audio", ordering="audio_seconds")
    def audio(self, obj: StreamingSession) -> str:
        return f"{obj.audio_seconds:.1f} s"

    @admin.display(description="final delay (mean)", ordering="mean_final_delay")
    def final_delay_mean(self, obj: StreamingSession) -> str:
        return _seconds(obj.mean_final_delay)

    @admin.display(description="final delay (max)", ordering="max_final_delay")
    def final_delay_max(self, obj: StreamingSession) -> str:
        return _seconds(obj.max_final_delay)

    @admin.display(description="final delay (mean / max)", ordering="mean_final_delay")
    def final_delay(self, obj: StreamingSession) -> str:
        if obj.mean_final_delay is None:
            return "—"
        return f"{obj.mean_final_delay:.2f} / {obj.max_final_delay:.2f} s"

    @admin.display(description="word latency (mean)", ordering="mean_word_latency")
    def word_latency_mean(self, obj: StreamingSession) -> str:
        return _seconds(obj.mean_word_latency)

    @admin.display(description="first audio (mean)", ordering="mean_first_audio")
    def first_audio_mean(self, obj: StreamingSession) -> str:
        return _seconds(obj.mean_first_audio)

    @admin.display(description="live (connection holding it)")
    def live_figures(self, obj: StreamingSession) -> str:
        live = live_stats.read(obj.id)
        return ", ".join(f"{k}={v}" for k, v in live.items())

    # Actions: teachers may close their students' sessions; expiring is an operator's call.

    def has_close_permission(self, request: HttpRequest) -> bool:
        return is_operator(request.user) or is_teacher(request.user)

    def has_expire_permission(self, request: HttpRequest) -> bool:
        return is_operator(request.user)

    @admin.action(description="Close the selected sessions", permissions=["close"])
    def close_sessions(self, request: HttpRequest, queryset: QuerySet) -> None:
        ended = _end_sessions(queryset, SessionStatus.CLOSED)
        self.message_user(request, f"Closed {ended} session(s).", messages.SUCCESS)

    @admin.action(description="Expire the selected sessions", permissions=["expire"])
    def expire_sessions(self, request: HttpRequest, queryset: QuerySet) -> None:
        ended = _end_sessions(queryset, SessionStatus.EXPIRED)
        self.message_user(request, f"Expired {ended} session(s).", messages.SUCCESS)


@admin.register(ConversationEntry)
class ConversationEntryAdmin(ReadOnlyRecordAdmin):
    list_display = ("created_at", "session_link", "owner", "sequence", "role", "text", "latency", "word_latency")
    list_filter = ("role", "language", "created_at")
    search_fields = ("text",)
    search_help_text = "Words said or replied."
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
        "audio_duration",
        "audio_start",
        "audio_end",
        "latency",
        "word_latency",
        "created_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        entries = super().get_queryset(request)
        if not is_operator(request.user):
            entries = entries.filter(session__in=sessions_visible_to(request.user).values("pk"))
        return entries

    @admin.display(description="session", ordering="session")
    def session_link(self, obj: ConversationEntry) -> str:
        url = reverse("admin:streaming_streamingsession_change", args=[obj.session_id])
        return format_html('<a href="{}">{}</a>', url, str(obj.session_id)[:8])

    @admin.display(ordering="session__owner__username")
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

    @admin.display(description="teachers")
    def teacher_names(self, obj: Classroom) -> str:
        return ", ".join(t.get_username() for t in obj.teachers.all())

    @admin.display(description="students", ordering="n_students")
    def student_count(self, obj: Classroom) -> int:
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
            messages.warning(request, f"The key for “{obj.name}” is {raw} — copy it now, it is not shown again.")
        super().save_model(request, obj, form, change)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(OperatorAdmin):
    list_display = ("kind", "host", "pid", "model", "device", "started_at", "last_seen_at", "requests_handled", "alive")
    list_filter = ("kind", "host")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(boolean=True, description="alive")
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
            "title": "Service health",
            "opts": self.model._meta,
            "figures": figures,
            "latency_rows": _latency_rows(figures["latency"]),
            "sessions_chart": charts.line_chart("Sessions, last 24 hours", sessions.starts, sessions.lines),
            "latency_chart": charts.line_chart("Latency, last 24 hours", latency.starts, latency.lines, " s"),
            "data_url": reverse("admin:sessions_admin_servicehealth_data"),
        }
        return TemplateResponse(request, "admin/sessions_admin/service_health.html", context)

    def data_view(self, request: HttpRequest) -> JsonResponse:
        self._refuse_unless_viewer(request)
        return JsonResponse(dashboard.health_figures())


def _latency_rows(latency: dict) -> list[dict]:
    """Rows for the template: one per figure and window."""
    names = {"finalDelay": "Final delay", "wordLatency": "Word latency", "firstAudio": "Reply first audio"}
    rows = []
    for key, label in names.items():
        for window, title in (("last5m", "5 min"), ("last60m", "60 min")):
            rows.append({"label": label, "window": title, **latency[window][key]})
    return rows
