"""Reading practice in the database and the admin: starter texts, invariants, assignments,
attempts, and who sees what (the roles of school/roles.py, checked for sessions in test_roles.py)."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import RequestFactory
from django.utils import timezone

from reading import selectors, services
from reading.admin import StudentFilter
from reading.models import PracticeText, ReadingAttempt
from school.models import Classroom
from streaming.core.reading import ReadingAligner
from streaming.core.stabilizer import Word
from streaming.errors import ServiceError
from tests.integration.test_roles import admin_client, create_user
from tests.support import make_session

pytestmark = pytest.mark.django_db
TEXTS = "/admin/reading/practicetext/"
ATTEMPTS = "/admin/reading/readingattempt/"


@pytest.fixture
def school(user, other_user, staff):
    """Class 5B: teacher `teacher`, students `student` and `classmate`. Class 6A: teacher
    `teacher6`, student `other`. Texts: the starter texts (shared), and `teacher6`'s for 6A."""
    people = {
        "student": user,
        "classmate": create_user("classmate"),
        "other": other_user,
        "staff": staff,
        "teacher": create_user("teacher", teacher=True),
        "teacher6": create_user("teacher6", teacher=True),
    }
    five_b, six_a = Classroom.objects.create(name="5B"), Classroom.objects.create(name="6A")
    five_b.teachers.add(people["teacher"])
    five_b.students.add(user, people["classmate"])
    six_a.teachers.add(people["teacher6"])
    six_a.students.add(other_user)
    people["5B"], people["6A"] = five_b, six_a
    people["six_a_text"] = PracticeText.objects.create(
        title="Class 6A only", language="en", text="The long journey home took a year.", created_by=people["teacher6"]
    )
    people["six_a_text"].classrooms.add(six_a)
    return people


def said(text: str) -> list[Word]:
    return [Word(i * 0.5, i * 0.5 + 0.4, f" {w}") for i, w in enumerate(text.split())]


def attempt_by(student, text: PracticeText, spoken: str) -> ReadingAttempt:
    aligner = ReadingAligner(text.reference())
    aligner.update(said(spoken))
    return services.create_attempt(make_session(student), text, aligner.finish())


def fake_request(user):
    request = RequestFactory().get(ATTEMPTS)
    request.user = user
    return request


def fox() -> PracticeText:
    return PracticeText.objects.get(title="The Fox and the Grapes")


# --- texts -----------------------------------------------------------------------------------


def test_starter_texts_ship_in_english_and_mandarin_shared_by_every_teacher():
    texts = PracticeText.objects.all()
    assert sorted(texts.values_list("language", flat=True)) == ["en", "en", "zh", "zh"]
    for text in texts:
        text.full_clean()
        assert text.source and not text.classrooms.exists() and text.created_by is None
        assert len(text.reference()) >= 20
    assert [t.text for t in PracticeText.objects.filter(title="静夜思")] == [
        "床前明月光，疑是地上霜。举头望明月，低头思故乡。"
    ]


def test_a_text_needs_a_supported_language_and_something_to_read():
    with pytest.raises(ValidationError) as refused:
        PracticeText(title="Dashes", language="en", text=" — … ").full_clean()
    assert set(refused.value.message_dict) == {"text"}
    with pytest.raises(ValidationError) as refused:
        PracticeText(title="Bonjour", language="fr", text="Bonjour").full_clean()
    assert set(refused.value.message_dict) == {"language"}
    for bad in ({"language": "fr", "text": "Bonjour"}, {"language": "en", "text": "  \n "}):
        with pytest.raises(IntegrityError), transaction.atomic():
            PracticeText.objects.create(title="bad", **bad)


def test_students_see_the_texts_of_their_classrooms_only(school):
    assert not selectors.texts_visible_to(school["student"]).exists()  # starter texts are not assigned
    services.assign_text(fox(), [school["5B"]], by=school["teacher"])
    assert list(selectors.texts_visible_to(school["student"])) == [fox()]
    assert list(selectors.texts_visible_to(school["other"])) == [school["six_a_text"]]


def test_teachers_see_shared_texts_their_own_and_their_classrooms(school):
    shared = set(PracticeText.objects.filter(created_by=None))
    assert set(selectors.texts_visible_to(school["teacher"])) == shared
    services.assign_text(fox(), [school["6A"]], by=school["teacher6"])
    assert set(selectors.texts_visible_to(school["teacher"])) == shared  # still shared when assigned
    assert school["six_a_text"] in selectors.texts_visible_to(school["teacher6"])
    assert set(selectors.texts_visible_to(school["staff"])) == set(PracticeText.objects.all())


def test_a_teacher_assigns_to_the_classrooms_they_teach_and_keeps_the_others(school):
    text = school["six_a_text"]
    services.assign_text(text, [school["5B"]], by=school["teacher"])
    assert set(text.classrooms.all()) == {school["5B"], school["6A"]}  # 6A is teacher6's to change
    services.assign_text(text, [], by=school["teacher"])
    assert set(text.classrooms.all()) == {school["6A"]}
    for outsider, classroom in ((school["teacher"], school["6A"]), (school["student"], school["5B"])):
        with pytest.raises(ServiceError) as refused:
            services.assign_text(text, [classroom], by=outsider)
        assert refused.value.code == "forbidden"
    assert set(text.classrooms.all()) == {school["6A"]}


# --- attempts --------------------------------------------------------------------------------


def test_an_attempt_is_saved_from_a_finished_reading(school):
    text = PracticeText.objects.get(title="静夜思")
    aligner = ReadingAligner(text.reference())
    aligner.update([Word(0.0, 2.0, "床前明月光"), Word(3.0, 5.0, "疑是地上霜"), Word(6.0, 8.0, "举头望明日")])
    attempt = services.create_attempt(make_session(school["student"], language="zh"), text, aligner.finish())
    attempt.refresh_from_db()
    assert attempt.student == school["student"] and attempt.session.owner == school["student"]
    assert attempt.accuracy == pytest.approx(14 / 20) and attempt.wcpm == pytest.approx(14 * 60 / 8.0)
    assert attempt.duration == pytest.approx(8.0)
    statuses = [w["status"] for w in attempt.results["words"]]
    assert statuses == ["correct"] * 14 + ["misread"] + ["skipped"] * 5
    assert attempt.results["words"][14]["heard"] == "日"


def test_only_a_finished_reading_of_the_same_text_is_saved(school):
    session = make_session(school["student"])
    aligner = ReadingAligner(fox().reference())
    with pytest.raises(ServiceError) as refused:
        services.create_attempt(session, fox(), aligner.update(said("one hot summer's day")))
    assert refused.value.code == "reading_unfinished"
    with pytest.raises(ServiceError) as refused:
        services.create_attempt(session, school["six_a_text"], aligner.finish())
    assert refused.value.field == "practice_text_id"
    assert not ReadingAttempt.objects.exists()


def test_an_attempt_belongs_to_its_sessions_owner(school):
    attempt = attempt_by(school["student"], fox(), "one hot summer's day")
    attempt.student = school["classmate"]
    with pytest.raises(ValidationError):
        attempt.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        ReadingAttempt.objects.filter(pk=attempt.pk).update(accuracy=1.5)


def test_attempts_are_seen_as_sessions_are(school):
    mine = attempt_by(school["student"], fox(), "one hot summer's day")
    classmate = attempt_by(school["classmate"], fox(), "one hot day")
    other = attempt_by(school["other"], school["six_a_text"], "the long journey home took a year")
    assert set(selectors.attempts_visible_to(school["student"])) == {mine}
    assert set(selectors.attempts_visible_to(school["teacher"])) == {mine, classmate}
    assert set(selectors.attempts_visible_to(school["teacher6"])) == {other}
    assert set(selectors.attempts_visible_to(school["staff"])) == {mine, classmate, other}


# --- the admin -------------------------------------------------------------------------------


def test_a_teacher_creates_a_text_for_their_classroom_only(school):
    client = admin_client(school["teacher"])
    form = {"title": "Dew", "language": "en", "text": "The grass and bushes were wet with dew.", "source": ""}
    response = client.post(f"{TEXTS}add/", {**form, "classrooms": [school["6A"].pk]})
    assert response.status_code == 200 and not PracticeText.objects.filter(title="Dew").exists()  # not a choice
    response = client.post(f"{TEXTS}add/", {**form, "classrooms": [school["5B"].pk]})
    assert response.status_code == 302
    text = PracticeText.objects.get(title="Dew")
    assert text.created_by == school["teacher"] and list(text.classrooms.all()) == [school["5B"]]
    assert list(selectors.texts_visible_to(school["classmate"])) == [text]
    response = client.post(f"{TEXTS}add/", {**form, "title": "Empty", "text": "…", "classrooms": []})
    assert response.status_code == 200 and not PracticeText.objects.filter(title="Empty").exists()


def test_a_teacher_assigns_a_shared_text_but_cannot_reword_or_delete_it(school):
    client = admin_client(school["teacher"])
    text = fox()
    services.assign_text(text, [school["6A"]], by=school["teacher6"])
    wording = text.text
    response = client.post(
        f"{TEXTS}{text.pk}/change/",
        {"title": "Mine now", "language": "zh", "text": "狐狸", "classrooms": [school["5B"].pk]},
    )
    assert response.status_code == 302
    text.refresh_from_db()
    assert (text.title, text.language, text.text) == ("The Fox and the Grapes", "en", wording)
    assert set(text.classrooms.all()) == {school["5B"], school["6A"]}
    assert client.get(f"{TEXTS}{text.pk}/delete/").status_code == 403
    assert client.get(f"{TEXTS}{school['six_a_text'].pk}/change/").status_code == 302  # not visible: gone
    listed = client.get(TEXTS).content.decode()
    assert "The Wind and the Sun" in listed and "Class 6A only" not in listed


def test_the_author_of_a_text_may_reword_and_delete_it(school):
    client = admin_client(school["teacher6"])
    text = school["six_a_text"]
    response = client.post(
        f"{TEXTS}{text.pk}/change/",
        {"title": "Journey", "language": "en", "text": "The journey took a year.", "classrooms": [school["6A"].pk]},
    )
    assert response.status_code == 302
    text.refresh_from_db()
    assert (text.title, text.text) == ("Journey", "The journey took a year.")
    assert client.get(f"{TEXTS}{text.pk}/delete/").status_code == 200


def test_teachers_see_their_students_attempts_with_a_word_map(school):
    mine = attempt_by(school["student"], fox(), "one hot summer's day a fox was um strolling through")
    other = attempt_by(school["other"], school["six_a_text"], "the long journey home took a year")
    client = admin_client(school["teacher"])
    listed = client.get(ATTEMPTS).content.decode()
    assert f"{ATTEMPTS}{mine.pk}/change/" in listed and f"{ATTEMPTS}{other.pk}/change/" not in listed
    assert client.get(f"{ATTEMPTS}{other.pk}/change/").status_code == 302
    page = client.get(f"{ATTEMPTS}{mine.pk}/change/").content.decode()
    assert 'title="correct @ 0.0 s">One</span>' in page and ">[um]</span>" in page
    assert 'title="skipped">sour.&quot;</span>' in page
    assert client.get(f"{ATTEMPTS}{mine.pk}/delete/").status_code == 403
    filtered = client.get(ATTEMPTS, {"classroom": school["5B"].pk, "text": fox().pk}).content.decode()
    assert f"{ATTEMPTS}{mine.pk}/change/" in filtered


def days_ago(attempt: ReadingAttempt, days: int) -> ReadingAttempt:
    ReadingAttempt.objects.filter(pk=attempt.pk).update(created_at=timezone.now() - timedelta(days=days))
    return attempt


def test_a_teachers_trend_charts_hold_their_classrooms_attempts_only(school):
    """The attempt list's charts and per-student lines: 5B's teacher sees 5B's attempts over the
    month, day by day, and nothing of 6A's -- not even when asking for a 6A student by id."""
    fox_text = fox()
    first = days_ago(attempt_by(school["student"], fox_text, "one hot summer's day"), 3)
    better = attempt_by(school["student"], fox_text, fox_text.text)
    classmate = attempt_by(school["classmate"], fox_text, "one hot summer's day a fox was strolling")
    other = attempt_by(school["other"], school["six_a_text"], "the long journey home took a year")
    days_ago(other, 3)

    client = admin_client(school["teacher"])
    response = client.get(ATTEMPTS)
    lines = response.context["trend_lines"]
    assert set(lines) == {"accuracy", "wcpm_en"} and len(lines["accuracy"]) == 30
    assert lines["accuracy"][-4] == pytest.approx(100 * first.accuracy)  # 6A's attempt that day left out
    assert lines["accuracy"][-1] == pytest.approx(100 * (better.accuracy + classmate.accuracy) / 2)
    assert lines["wcpm_en"][-1] == pytest.approx((better.wcpm + classmate.wcpm) / 2)
    assert [v for i, v in enumerate(lines["accuracy"]) if i not in (26, 29)] == [None] * 28
    rows = {row["student__username"]: row for row in response.context["student_rows"]}
    assert set(rows) == {"student", "classmate"}
    assert rows["student"]["attempts"] == 2 and rows["student"]["best_wcpm"] == pytest.approx(
        max(first.wcpm, better.wcpm)
    )
    page = response.content.decode()
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="llb-chart"') == 2
    assert "Accuracy, last 30 days" in page and ">other</a>" not in page

    # One student: the trend is theirs; one of another classroom: nothing at all.
    mine = client.get(ATTEMPTS, {"student": school["student"].pk}).context
    assert [row["student__username"] for row in mine["student_rows"]] == ["student"]
    assert mine["trend_lines"]["accuracy"][-1] == pytest.approx(100 * better.accuracy)
    theirs = client.get(ATTEMPTS, {"student": school["other"].pk}).context
    assert theirs["student_rows"] == [] and set(theirs["trend_lines"]["accuracy"]) == {None}
    offered = StudentFilter(fake_request(school["teacher"]), {}, ReadingAttempt, None).lookup_choices
    assert {name for _, name in offered} == {"student", "classmate"}

    # 6A's teacher sees 6A's attempt only; an operator sees all.
    other_view = admin_client(school["teacher6"]).get(ATTEMPTS).context
    assert [row["student__username"] for row in other_view["student_rows"]] == ["other"]
    assert other_view["trend_lines"]["accuracy"][-4] == pytest.approx(100 * other.accuracy)
    everyone = admin_client(school["staff"]).get(ATTEMPTS).context
    assert {row["student__username"] for row in everyone["student_rows"]} == {"student", "classmate", "other"}


def test_csv_export_of_a_class_holds_only_visible_attempts_and_no_formulas(school):
    school["student"].username = "=HYPERLINK(1)"
    school["student"].save()
    mine = attempt_by(school["student"], fox(), "one hot summer's day")
    other = attempt_by(school["other"], school["six_a_text"], "the long journey home took a year")
    response = admin_client(school["teacher"]).post(
        ATTEMPTS, {"action": "export_csv", ACTION_CHECKBOX_NAME: [mine.pk, other.pk]}
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="reading-attempts-')
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeff")
    header, *rows = csv.reader(io.StringIO(body[1:]))
    assert header[:4] == ["time", "student", "classrooms", "practice text"]
    assert len(rows) == 1
    row = dict(zip(header, rows[0], strict=True))
    assert row["student"] == "'=HYPERLINK(1)" and row["classrooms"] == "5B"
    assert (row["practice text"], row["correct"], row["skipped"]) == (
        "The Fox and the Grapes",
        "4",
        str(len(fox().reference()) - 4),
    )
    assert float(row["accuracy"]) == pytest.approx(mine.accuracy, abs=1e-4)


def test_a_teacher_cannot_bulk_delete_texts_that_are_not_theirs(school):
    """The list's delete action asks per text, as the delete page does."""
    client = admin_client(school["teacher"])
    own = PracticeText.objects.create(title="Mine", language="en", text="Mine to delete.", created_by=school["teacher"])
    shared = fox()
    response = client.post(
        TEXTS, {"action": "delete_selected", "post": "yes", ACTION_CHECKBOX_NAME: [shared.pk, own.pk]}
    )
    assert response.status_code == 403
    assert PracticeText.objects.filter(pk__in=[shared.pk, own.pk]).count() == 2
    response = client.post(TEXTS, {"action": "delete_selected", "post": "yes", ACTION_CHECKBOX_NAME: [own.pk]})
    assert response.status_code == 302 and not PracticeText.objects.filter(pk=own.pk).exists()


def test_a_text_with_attempts_is_kept(school):
    attempt_by(school["student"], fox(), "one hot summer's day")
    page = admin_client(school["staff"]).get(f"{TEXTS}{fox().pk}/delete/").content.decode()
    assert "<title>Cannot delete practice text" in page
