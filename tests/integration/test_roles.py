"""Roles in a school, enforced alike in the REST API, the WebSocket and the admin.

Students see only their own sessions; teachers (group "teachers") see and may close the sessions
of the students in their classrooms, and nothing else, and never stream into them; operators
(staff) see everything. Every crossing that must be refused has a test here.
"""

import re

import pytest
from asgiref.sync import sync_to_async
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from school.models import Classroom
from streaming import selectors
from streaming.errors import ServiceError
from streaming.models import SessionStatus
from streaming.services import add_user_utterance
from tests.support import make_session, open_socket, token_for

API = "/api/v1/audio-streaming"
SESSIONS = "/admin/streaming/streamingsession/"
ENTRIES = "/admin/streaming/conversationentry/"
pytestmark = pytest.mark.django_db


def create_user(name: str, *, teacher: bool = False, staff: bool = False):
    person = get_user_model().objects.create_user(name, password=f"pw-{name}-123", is_staff=staff or teacher)
    if teacher:
        person.groups.add(Group.objects.get_or_create(name="teachers")[0])
    return person


@pytest.fixture
def school(user, other_user, staff):
    """Class 5B: teacher `teacher`, students `student` (user) and `classmate`.
    Class 6A: teacher `teacher6`, student `other`. `helper` is listed as a 5B teacher but is not
    in the teachers group, so that listing alone grants nothing."""
    people = {
        "student": user,
        "other": other_user,
        "staff": staff,
        "classmate": create_user("classmate"),
        "teacher": create_user("teacher", teacher=True),
        "teacher6": create_user("teacher6", teacher=True),
        "helper": create_user("helper"),
    }
    five_b = Classroom.objects.create(name="5B")
    five_b.teachers.add(people["teacher"], people["helper"])
    five_b.students.add(user, people["classmate"])
    six_a = Classroom.objects.create(name="6A")
    six_a.teachers.add(people["teacher6"])
    six_a.students.add(other_user)
    return people


@pytest.fixture
def sessions(school):
    made = {name: make_session(school[name]) for name in ("student", "classmate", "other", "teacher")}
    add_user_utterance(made["student"].id, text="my dog ate the homework", language="en")
    add_user_utterance(made["other"].id, text="a secret about class six", language="en")
    return made


def api(person, method: str, url: str):
    return getattr(Client(), method)(url, HTTP_AUTHORIZATION=f"Bearer {token_for(person)}")


def listed_ids(person) -> set[str]:
    return {s["id"] for s in api(person, "get", f"{API}/sessions").json()["sessions"]}


def admin_client(person) -> Client:
    client = Client()
    client.force_login(person)
    return client


# --- REST -------------------------------------------------------------------------------------


def test_students_list_only_their_own(school, sessions):
    assert listed_ids(school["student"]) == {str(sessions["student"].id)}
    assert listed_ids(school["classmate"]) == {str(sessions["classmate"].id)}


def test_teacher_lists_own_and_their_students_sessions(school, sessions):
    expected = {str(sessions[n].id) for n in ("student", "classmate", "teacher")}
    assert listed_ids(school["teacher"]) == expected
    assert listed_ids(school["teacher6"]) == {str(sessions["other"].id)}
    assert listed_ids(school["staff"]) == {str(s.id) for s in sessions.values()}


@pytest.mark.parametrize(
    ("who", "whose"),
    [
        ("classmate", "student"),  # a classmate is not a teacher
        ("student", "teacher"),  # nor may a student look at their teacher's session
        ("teacher", "other"),  # not this teacher's student
        ("teacher6", "student"),  # a teacher of another class
        ("helper", "student"),  # listed in the class but not in the teachers group
    ],
)
def test_refused_crossings_in_rest(school, sessions, who, whose):
    session = sessions[whose]
    for suffix in ("", "/stats", "/entries"):
        response = api(school[who], "get", f"{API}/sessions/{session.id}{suffix}")
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    response = api(school[who], "delete", f"{API}/sessions/{session.id}")
    assert response.status_code == 403
    session.refresh_from_db()
    assert session.status == SessionStatus.ACTIVE
    assert str(session.id) not in listed_ids(school[who])


def test_teacher_views_and_closes_a_students_session(school, sessions):
    session = sessions["student"]
    for suffix in ("", "/stats", "/entries"):
        assert api(school["teacher"], "get", f"{API}/sessions/{session.id}{suffix}").status_code == 200
    entries = api(school["teacher"], "get", f"{API}/sessions/{session.id}/entries").json()
    assert entries["results"][0]["text"] == "my dog ate the homework"
    closed = api(school["teacher"], "delete", f"{API}/sessions/{session.id}")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"


def test_a_staff_flag_does_not_make_a_teacher_an_operator(school, sessions):
    assert school["teacher"].is_staff
    assert str(sessions["other"].id) not in listed_ids(school["teacher"])


# --- who may stream (the WebSocket's rule) -----------------------------------------------------


def test_only_owner_and_operators_may_stream(school, sessions):
    session = sessions["student"]
    assert selectors.session_for_user(school["student"], session.id, stream=True) == session
    assert selectors.session_for_user(school["staff"], session.id, stream=True) == session
    assert selectors.session_for_user(school["teacher"], session.id) == session  # watching is fine
    for who in ("teacher", "classmate", "teacher6", "helper"):
        with pytest.raises(ServiceError) as refused:
            selectors.session_for_user(school[who], session.id, stream=True)
        assert refused.value.code == "forbidden"


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("who", ["teacher", "classmate", "teacher6"])
async def test_refused_crossings_on_the_websocket(layer, school, sessions, who):
    token = await sync_to_async(token_for)(school[who])
    communicator, connected, first = await open_socket(sessions["student"].id, token=token)
    assert connected
    assert first["type"] == "error" and first["data"]["code"] == "forbidden"
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_teacher_streams_into_their_own_session(layer, school, sessions):
    token = await sync_to_async(token_for)(school["teacher"])
    communicator, _, first = await open_socket(sessions["teacher"].id, token=token)
    assert first["data"]["event"] == "connected"
    await communicator.disconnect()


# --- admin ------------------------------------------------------------------------------------


def test_students_cannot_use_the_admin(school, sessions):
    client = admin_client(school["student"])
    for url in ("/admin/", SESSIONS, f"{SESSIONS}{sessions['student'].id}/change/", ENTRIES):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url


def test_teacher_admin_lists_only_their_students(school, sessions):
    client = admin_client(school["teacher"])
    html = client.get(SESSIONS).content.decode()
    for name in ("student", "classmate", "teacher"):
        assert str(sessions[name].id)[:8] in html
    assert str(sessions["other"].id)[:8] not in html
    # The classroom filter offers the teacher's own classes only (match element text, not tokens).
    assert not re.search(r">\s*6A\s*<", html)
    assert str(sessions["other"].id)[:8] not in client.get(SESSIONS, {"q": "secret"}).content.decode()
    entries = client.get(ENTRIES).content.decode()
    assert "my dog ate the homework" in entries and "a secret about class six" not in entries


def test_teacher_cannot_open_another_class_session_or_entry(school, sessions):
    client = admin_client(school["teacher"])
    other = sessions["other"]
    response = client.get(f"{SESSIONS}{other.id}/change/")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    entry = other.entries.get()
    assert client.get(f"{ENTRIES}{entry.pk}/change/").status_code == 302


@pytest.mark.parametrize(
    "url",
    [
        "/admin/sessions_admin/servicehealth/",
        "/admin/sessions_admin/servicehealth/data.json",
        "/admin/school/classroom/",
        "/admin/streaming/apitoken/",
        "/admin/streaming/workerheartbeat/",
        "/admin/auth/user/",
    ],
)
def test_teacher_sees_nothing_else_in_the_admin(school, url):
    assert admin_client(school["teacher"]).get(url).status_code == 403


def test_teacher_cannot_edit_or_delete_records(school, sessions):
    client = admin_client(school["teacher"])
    session = sessions["student"]
    assert client.post(f"{SESSIONS}{session.id}/change/", {"language": "zh"}).status_code == 403
    assert client.get(f"{SESSIONS}{session.id}/delete/").status_code == 403
    assert client.get(f"{SESSIONS}add/").status_code == 403
    session.refresh_from_db()
    assert session.language == "en"


def test_teacher_closes_students_sessions_only(school, sessions):
    client = admin_client(school["teacher"])
    mine, theirs = sessions["student"], sessions["other"]
    ids = [str(mine.id), str(theirs.id)]
    client.post(SESSIONS, {"action": "close_sessions", ACTION_CHECKBOX_NAME: ids})
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.status == SessionStatus.CLOSED and theirs.status == SessionStatus.ACTIVE
    client.post(SESSIONS, {"action": "expire_sessions", ACTION_CHECKBOX_NAME: [str(sessions["classmate"].id)]})
    sessions["classmate"].refresh_from_db()
    assert sessions["classmate"].status == SessionStatus.ACTIVE  # expiring is an operator's action
    assert "expire_sessions" not in client.get(SESSIONS).content.decode()


def test_operator_sees_everything_but_only_a_superuser_deletes(school, sessions):
    client = admin_client(school["staff"])
    html = client.get(SESSIONS).content.decode()
    assert all(str(s.id)[:8] in html for s in sessions.values())
    assert client.get(f"{SESSIONS}{sessions['other'].id}/change/").status_code == 200
    assert client.get("/admin/sessions_admin/servicehealth/").status_code == 200
    assert client.get(f"{SESSIONS}{sessions['other'].id}/delete/").status_code == 403
    root = get_user_model().objects.create_superuser("root", password="pw-root-123")
    assert admin_client(root).get(f"{SESSIONS}{sessions['other'].id}/delete/").status_code == 200
