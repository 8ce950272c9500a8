"""Admin for reading practice: teachers write texts and assign them to their classrooms, and read
their students' attempts -- per classroom, student and text, word by word, and as CSV.

The attempt list shows, for the attempts listed (a classroom, a student, a text, dates), the daily
trend of accuracy and WCPM as SVG charts (llb/charts.py, as the service dashboard) and a line per
student.

Roles (school/roles.py): operators manage everything; teachers see the shared texts (the starter
texts and operators'), their own and those of their classrooms, change the wording of their own only, and
assign any text they see to the classrooms they teach. Attempts are records: read-only for all,
seen as sessions are (reading/selectors.py); only a superuser deletes.
"""

import csv
from collections import defaultdict

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from llb import charts
from reading import selectors, services
from reading.models import PracticeText, ReadingAttempt
from school.roles import is_operator, is_teacher

STATUS_LABELS = {
    "correct": _("correct"),
    "misread": _("misread"),
    "skipped": _("skipped"),
}  # an attempt is a finished reading: no word of it is pending
STATUS_STYLES = {
    "correct": "color:#2e7d32",
    "misread": "color:#ba2121;text-decoration:underline wavy",
    "skipped": "color:#888;text-decoration:line-through",
}
INSERTED_STYLE = "color:#e08a00;font-style:italic"
TREND_DAYS = 30  # the charts of the attempt list: the last month, a day a point
# A spreadsheet runs a cell starting with one of these as a formula: a student's name must not.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _staff_member(request: HttpRequest) -> bool:
    return is_operator(request.user) or is_teacher(request.user)


class ClassroomFilter(admin.SimpleListFilter):
    """One classroom's texts or attempts; teachers are offered their own classrooms only."""

    title = _("classroom")
    parameter_name = "classroom"
    lookup = ""  # the field path to a classroom

    def lookups(self, request, model_admin):
        return [(str(c.pk), c.name) for c in services.classrooms_managed_by(request.user)]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(**{self.lookup: int(value)}).distinct()
        return queryset


class TextClassroomFilter(ClassroomFilter):
    lookup = "classrooms__pk"


class StudentClassroomFilter(ClassroomFilter):
    lookup = "student__classrooms__pk"


class TextFilter(admin.SimpleListFilter):
    """Attempts at one text, among the texts the user sees."""

    title = _("practice text")
    parameter_name = "text"

    def lookups(self, request, model_admin):
        return [(str(t.pk), t.title) for t in selectors.texts_visible_to(request.user)]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(text=int(value)) if value and value.isdigit() else queryset


class StudentFilter(admin.SimpleListFilter):
    """One student's attempts, among the students whose attempts the user sees."""

    title = _("student")
    parameter_name = "student"

    def lookups(self, request, model_admin):
        students = selectors.attempts_visible_to(request.user).order_by("student__username")
        return [(str(pk), name) for pk, name in students.values_list("student", "student__username").distinct()]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(student=int(value)) if value and value.isdigit() else queryset


@admin.register(PracticeText)
class PracticeTextAdmin(admin.ModelAdmin):
    list_display = ("title", "language", "assigned_to", "created_by", "attempt_count", "updated_at")
    list_filter = ("language", TextClassroomFilter)
    search_fields = ("title", "text")
    fields = ("title", "language", "text", "source", "classrooms", "created_by", "created_at", "updated_at")
    filter_horizontal = ("classrooms",)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _staff_member(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return _staff_member(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _staff_member(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return _staff_member(request)  # teachers assign any text they see; its wording: get_readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is None:
            return _staff_member(request)
        return selectors.text_editable_by(request.user, obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        visible = selectors.texts_visible_to(request.user).values("pk")
        return super().get_queryset(request).filter(pk__in=visible).annotate(n_attempts=Count("attempts"))

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        always = ("created_by", "created_at", "updated_at")
        if obj is not None and not selectors.text_editable_by(request.user, obj):
            return ("title", "language", "text", "source", *always)
        return always

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "classrooms":
            kwargs["queryset"] = services.classrooms_managed_by(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: PracticeText, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]  # a logged-in admin user
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        """Assignments through the service: the form offers the user's classrooms only, and
        saving it must not drop another teacher's."""
        services.assign_text(form.instance, form.cleaned_data.get("classrooms", ()), by=request.user)
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    @admin.display(description=_("assigned to"))
    def assigned_to(self, obj: PracticeText) -> str:
        names = [c.name for c in obj.classrooms.all()]
        return ", ".join(names) or "—"

    @admin.display(description=_("attempts"), ordering="n_attempts")
    def attempt_count(self, obj) -> int:
        return obj.n_attempts


@admin.register(ReadingAttempt)
class ReadingAttemptAdmin(admin.ModelAdmin):
    list_display = ("created_at", "student", "text", "accuracy_percent", "wcpm_rounded", "reading_time", "session_link")
    list_filter = (StudentClassroomFilter, StudentFilter, TextFilter, "text__language", "created_at")
    search_fields = ("student__username", "student__first_name", "student__last_name", "text__title")
    date_hierarchy = "created_at"
    list_select_related = ("student", "text")
    list_per_page = 100
    actions = ("export_csv",)
    fields = (
        "student",
        "text",
        "session_link",
        "created_at",
        "accuracy_percent",
        "wcpm_rounded",
        "reading_time",
        "word_map",
        "long_pauses",
    )
    readonly_fields = fields

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _staff_member(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return _staff_member(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(pk__in=selectors.attempts_visible_to(request.user).values("pk"))

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        """The list, under the trend of the attempts it lists: the same filters, the same rows a
        user may see (get_queryset), so a teacher's charts hold their classrooms' attempts only."""
        response = super().changelist_view(request, extra_context)
        if not isinstance(response, TemplateResponse) or "cl" not in (response.context_data or {}):
            return response  # an action's answer (CSV) or a redirect
        context = response.context_data
        assert context is not None
        changelist = context["cl"]
        attempts = changelist.queryset
        starts, lines = selectors.daily_trend(attempts, TREND_DAYS)
        names = {"accuracy": gettext("accuracy"), "wcpm_en": gettext("English"), "wcpm_zh": gettext("Chinese")}
        rates = {names[key]: series for key, series in lines.items() if key.startswith("wcpm_")}
        context["trend_charts"] = [
            charts.line_chart(
                gettext("Accuracy, last %(days)d days") % {"days": TREND_DAYS},
                starts,
                {names["accuracy"]: lines["accuracy"]},
                " %",
                stamp="%m-%d",
            ),
            charts.line_chart(
                gettext("Words (Chinese: characters) correct per minute, last %(days)d days") % {"days": TREND_DAYS},
                starts,
                rates,
                stamp="%m-%d",
            ),
        ]
        context["trend_lines"] = lines
        context["student_rows"] = [
            {**row, "url": changelist.get_query_string({"student": str(row["student"])})}
            for row in selectors.student_summaries(attempts)
        ]
        return response

    @admin.display(description=_("accuracy"), ordering="accuracy")
    def accuracy_percent(self, obj: ReadingAttempt) -> str:
        return f"{obj.accuracy:.0%}"

    @admin.display(description=_("words correct per minute"), ordering="wcpm")
    def wcpm_rounded(self, obj: ReadingAttempt) -> str:
        return f"{obj.wcpm:.0f}"

    @admin.display(description=_("reading time"), ordering="duration")
    def reading_time(self, obj: ReadingAttempt) -> str:
        return f"{obj.duration:.1f} s"

    @admin.display(description=_("session"), ordering="session")
    def session_link(self, obj: ReadingAttempt) -> str:
        url = reverse("admin:streaming_streamingsession_change", args=[obj.session_id])
        return format_html('<a href="{}">{}</a>', url, str(obj.session_id)[:8])

    @admin.display(description=_("word map"))
    def word_map(self, obj: ReadingAttempt) -> SafeString:
        """The text as read: each word coloured by its status, inserted words and long pauses
        where they came; hover a word for what was heard and when."""
        results = obj.results
        words = results["words"]
        inserted: dict[int, list[dict]] = defaultdict(list)
        for extra in results["inserted"]:
            inserted[extra["before"]].append(extra)
        pauses = {p["before"]: p for p in results["figures"]["longPauses"]}
        parts = []
        for i in range(len(words) + 1):
            if i in pauses:
                parts.append(format_html('<span style="color:#888">‖ {} s</span>', f"{pauses[i]['duration']:.1f}"))
            parts += [
                format_html('<span style="{}" title="{}">[{}]</span>', INSERTED_STYLE, gettext("inserted"), x["text"])
                for x in inserted[i]
            ]
            if i < len(words):
                word = words[i]
                title = str(STATUS_LABELS[word["status"]])
                if word.get("heard"):
                    title += " – " + gettext("heard “%(heard)s”") % {"heard": word["heard"]}
                if word["start"] is not None:
                    title += f" @ {word['start']:.1f} s"
                parts.append(
                    format_html(
                        '<span style="{}" title="{}">{}</span>', STATUS_STYLES[word["status"]], title, word["text"]
                    )
                )
        joiner = "" if results["language"] == "zh" else " "
        legend = format_html_join(
            " · ", '<span style="{}">{}</span>', ((STATUS_STYLES[s], label) for s, label in STATUS_LABELS.items())
        )
        text = SafeString(joiner.join(parts))
        return format_html(
            '<p style="font-size:1.2em;line-height:1.8;max-width:60em">{}</p><p>{} · <span style="{}">[{}]</span></p>',
            text,
            legend,
            INSERTED_STYLE,
            gettext("inserted"),
        )

    @admin.display(description=_("long pauses"))
    def long_pauses(self, obj: ReadingAttempt) -> str:
        pauses = obj.results["figures"]["longPauses"]
        return ", ".join(f"{p['duration']:.1f} s" for p in pauses) or "—"

    @admin.action(description=_("Export the selected attempts as CSV"), permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        stamp = date_format(timezone.localtime(), "Ymd-Hi")
        response["Content-Disposition"] = f'attachment; filename="reading-attempts-{stamp}.csv"'
        response.write("\ufeff")  # a byte-order mark: spreadsheets then read the Chinese as UTF-8
        writer = csv.writer(response)
        writer.writerow(
            [
                gettext("time"),
                gettext("student"),
                gettext("classrooms"),
                gettext("practice text"),
                gettext("language"),
                gettext("accuracy"),
                gettext("words correct per minute"),
                gettext("reading time (s)"),
                gettext("correct"),
                gettext("misread"),
                gettext("skipped"),
                gettext("inserted"),
                gettext("long pauses"),
            ]
        )
        attempts = queryset.select_related("student", "text").prefetch_related("student__classrooms")
        for attempt in attempts.order_by("created_at"):
            statuses = [w["status"] for w in attempt.results["words"]]
            writer.writerow(
                _cells(
                    timezone.localtime(attempt.created_at).isoformat(timespec="seconds"),
                    attempt.student.get_username(),
                    ", ".join(c.name for c in attempt.student.classrooms.all()),
                    attempt.text.title,
                    attempt.text.language,
                    round(attempt.accuracy, 4),
                    round(attempt.wcpm, 1),
                    round(attempt.duration, 1),
                    statuses.count("correct"),
                    statuses.count("misread"),
                    statuses.count("skipped"),
                    len(attempt.results["inserted"]),
                    len(attempt.results["figures"]["longPauses"]),
                )
            )
        return response


def _cells(*values) -> list:
    """CSV cells a spreadsheet shows as text: a leading quote defuses a would-be formula."""
    return [f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v for v in values]
