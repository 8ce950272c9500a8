"""Malformed HTTP input gets a JSON error, never a 500 or an HTML page under the API (issue 20:
R1-R5, L1), on PostgreSQL; then a property-based pass over every endpoint."""

import json
import logging
import os
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from reading.models import PracticeText
from reading.services import create_attempt
from school.models import Classroom
from streaming.core.reading import ReadingAligner
from streaming.core.stabilizer import Word
from streaming.services import add_user_utterance
from tests.support import make_session, token_for

API = "/api/v1/audio-streaming"
OPERATIONS = ["/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"]
pytestmark = pytest.mark.django_db


def bearer(person) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token_for(person)}"}


def assert_json_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json", response.content[:300]
    body = response.json()
    assert body["error"]["code"] == code and body["error"]["message"], body


# --- R1: page and page_size -------------------------------------------------------------------


@pytest.mark.parametrize("value", ["²", "٣", "１", "9" * 5000, "1" * 30, "-1", " 1", "1.0", "1e3", "0x10", "0"])
@pytest.mark.parametrize("name", ["page", "page_size"])
def test_malformed_page_numbers_are_400(user, name, value):
    session = make_session(user)
    add_user_utterance(session.id, text="hello", language="en")
    response = Client().get(f"{API}/sessions/{session.id}/entries", {name: value}, **bearer(user))
    assert_json_error(response, 400, "invalid_field")
    assert response.json()["error"]["field"] == name


# --- R2: nesting ------------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["[" * 30_000 + "]" * 30_000, '{"a":' * 10_000 + "1" + "}" * 10_000])
def test_deeply_nested_json_body_is_invalid_json(user, body):
    assert len(body) < 64 * 1024  # within the body limit: it is the nesting that is refused
    response = Client().post(f"{API}/sessions", data=body, content_type="application/json", **bearer(user))
    assert_json_error(response, 400, "invalid_json")


# --- R3: the admin's classroom filter ---------------------------------------------------------


@pytest.mark.parametrize("value", ["²", "9" * 5000, "99999999999999999999", "-1", "abc", ""])
def test_admin_classroom_filter_ignores_malformed_values(user, value):
    operator = get_user_model().objects.create_user("op", password="pw-op-123", is_staff=True, is_superuser=True)
    classroom = Classroom.objects.create(name="5B")
    classroom.students.add(user)
    make_session(user)
    client = Client()
    client.force_login(operator)
    response = client.get("/admin/streaming/streamingsession/", {"classroom": value})
    assert response.status_code in (200, 302), response.status_code
    assert client.get("/admin/streaming/streamingsession/", {"classroom": str(classroom.pk)}).status_code == 200


@pytest.mark.parametrize("query", ["status__exact=a%00b", "language__exact=%00", "q=%00", "o=1%00", "%00=1"])
@pytest.mark.parametrize(
    "page",
    ["/admin/streaming/streamingsession/", "/admin/streaming/conversationentry/", "/admin/reading/readingattempt/"],
)
def test_a_null_character_in_an_admin_query_is_400(user, page, query):
    """PostgreSQL text cannot hold a NUL: a list filter on one was a 500."""
    operator = get_user_model().objects.create_user("op", password="pw-op-123", is_staff=True, is_superuser=True)
    add_user_utterance(make_session(user).id, text="hello", language="en")
    client = Client()
    client.force_login(operator)
    response = client.get(f"{page}?{query}")
    assert response.status_code == 400 and b"NUL" in response.content, response.status_code
    assert client.get(page).status_code == 200


# --- R4: bodies over Django's upload limit ----------------------------------------------------


def test_bodies_over_the_upload_limit_are_413_json(user):
    big = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    as_json = json.dumps({"language": big})
    response = Client().post(f"{API}/sessions", data=as_json, content_type="application/json", **bearer(user))
    assert_json_error(response, 413, "payload_too_large")
    # A browser-style form post, CSRF-checked: the check reads the form, and meets the limit first.
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    browser.get("/chat/")  # the CSRF cookie
    response = browser.post(f"{API}/sessions", data=f"a={big}", content_type="application/x-www-form-urlencoded")
    assert_json_error(response, 413, "payload_too_large")


def test_unparseable_form_bodies_are_400_json(user):
    """A cookie-authenticated POST is CSRF-checked, which parses a form body: a broken multipart
    body was Django's HTML 400."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    browser.get("/chat/")
    for content_type in ("multipart/form-data; boundary=x", "multipart/form-data"):
        response = browser.post(f"{API}/sessions", data=b"[" * 512 + b"]" * 512, content_type=content_type)
        assert_json_error(response, 400, "invalid_body")


# --- R5: paths and methods --------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"{API}/sessions/not-a-uuid",
        f"{API}/sessions/12345/stats",
        f"{API}/sessions/²/entries",
        f"{API}/sessions/",
        f"{API}/nothing",
        "/api/v2/whatever",
    ],
)
@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_unknown_api_paths_are_json_404(user, path, method):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert_json_error(getattr(client, method)(path), 404, "not_found")
    assert_json_error(getattr(Client(), method)(path, **bearer(user)), 404, "not_found")


@pytest.mark.parametrize("path", OPERATIONS)
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
def test_unsafe_methods_on_operations_endpoints_are_json_405(staff, path, method):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    response = getattr(client, method)(path)
    assert_json_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD"
    assert Client().get(path).status_code in (200, 403, 503)  # GET is still served (or refused as before)


# --- L1: readiness logging --------------------------------------------------------------------


def test_not_ready_is_a_warning_once_not_an_error_per_probe(caplog):
    """No worker heartbeats here, so /readyz answers 503: Django's request logger must not report
    it at ERROR on every probe; the readiness log says it once."""
    from streaming.web.health import readiness_log

    readiness_log.ready = None
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            assert Client().get("/readyz").status_code == 503
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    warnings = [r for r in caplog.records if r.name == "streaming.web.health" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "worker" in warnings[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        Client().get("/api/v1/audio-streaming/sessions/00000000-0000-4000-8000-000000000000/stats")
        Client().get("/metrics", REMOTE_ADDR="203.0.113.9")  # a real refusal is still logged by Django
    assert any(r.name == "django.request" for r in caplog.records)


# --- every endpoint, fuzzed -------------------------------------------------------------------

# Each route of llb/urls.py (ids filled in per example) and the admin's pages.
ROUTES = [
    "/",
    "/chat/",
    "/practice/",
    "/accounts/login/",
    "/accounts/logout/",
    "/i18n/setlang/",
    f"{API}/sessions",
    f"{API}/sessions/{{id}}",
    f"{API}/sessions/{{id}}/stats",
    f"{API}/sessions/{{id}}/entries",
    f"{API}/practice-texts",
    f"{API}/practice-texts/{{number}}",
    f"{API}/reading-attempts",
    f"{API}/reading-attempts/{{number}}",
    *OPERATIONS,
    "/api/{text}",
    "/admin/",
    "/admin/streaming/streamingsession/",
    "/admin/streaming/streamingsession/{id}/change/",
    "/admin/streaming/conversationentry/",
    "/admin/streaming/apitoken/",
    "/admin/streaming/workerheartbeat/",
    "/admin/school/classroom/",
    "/admin/reading/practicetext/",
    "/admin/reading/readingattempt/",
    "/admin/sessions_admin/servicehealth/",
    "/admin/sessions_admin/servicehealth/data.json",
]
QUERY_NAMES = [
    "page",
    "page_size",
    "session",
    "text",
    "classroom",
    "student",
    "q",
    "o",
    "p",
    "e",
    "status__exact",
    "language__exact",
    "language",
    "all",
    "next",
    "x",
]
HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["²", "٣", "１", "-1", "0", "1e9", "null", "[]", "{}", "%00", "../..", "\x00", "☃"]),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.integers(min_value=1, max_value=6000).map(lambda n: "9" * n),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
BODIES = st.one_of(
    st.just(b""),
    st.binary(max_size=300),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries(
        {},
        optional={
            "language": HOSTILE_TEXT | JSON_VALUES,
            "input_sample_rate": JSON_VALUES,
            "tts_transport": HOSTILE_TEXT,
            "tts_format": HOSTILE_TEXT,
            "practice_text_id": st.integers(min_value=-(2**64), max_value=2**64) | HOSTILE_TEXT | JSON_VALUES,
        },
    ).map(lambda value: json.dumps(value).encode()),
    st.integers(min_value=1, max_value=40_000).map(lambda depth: ("[" * depth + "]" * depth).encode()),
)
REQUESTS = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
        "route": st.sampled_from(ROUTES),
        "id": st.one_of(st.just("own"), st.just("other"), st.uuids().map(str), HOSTILE_TEXT),
        # A practice text or reading attempt: one the student may see, another's, or any digits.
        "number": st.one_of(
            st.sampled_from(["text", "attempt", "other-text", "other-attempt"]),
            st.integers(min_value=0, max_value=10**30).map(str),
            HOSTILE_TEXT,
        ),
        "text": HOSTILE_TEXT,
        "query": st.dictionaries(st.sampled_from(QUERY_NAMES), HOSTILE_TEXT, max_size=3),
        "body": BODIES,
        "content_type": st.sampled_from(
            ["application/json", "application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"]
        ),
        "who": st.sampled_from(["anonymous", "student", "operator", "student-token", "bad-token"]),
    }
)


def test_the_fuzzed_routes_cover_every_endpoint():
    """A new route must join ROUTES: the fuzz is over every endpoint."""

    def patterns(resolver: URLResolver, prefix: str = "") -> list[str]:
        found = []
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                if "admin" not in str(entry.pattern):
                    found += patterns(entry, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                found.append("/" + prefix + str(entry.pattern).lstrip("^"))
        return found

    placeholders = {"<uuid:session_id>": "{id}", "<int:text_id>": "{number}", "<int:attempt_id>": "{number}"}
    declared = set()
    for route in patterns(get_resolver()):
        for converter, placeholder in placeholders.items():
            route = route.replace(converter, placeholder)
        declared.add(route)
    assert declared <= {route.replace("{text}", "") for route in ROUTES}


@pytest.fixture
def people(user, other_user):
    operator = get_user_model().objects.create_user("op", password="pw-op-123", is_staff=True, is_superuser=True)
    classroom = Classroom.objects.create(name="5B")
    classroom.students.add(user)
    own, other = make_session(user), make_session(other_user)
    add_user_utterance(own.id, text="hello", language="en")
    text, other_text = (PracticeText.objects.create(title=t, language="en", text=f"{t} is read.") for t in "AB")
    text.classrooms.add(classroom)
    attempts = {}
    for name, session, read in (("attempt", own, text), ("other-attempt", other, other_text)):
        aligner = ReadingAligner(read.reference())
        aligner.update([Word(0.0, 0.4, read.title)])
        attempts[name] = str(create_attempt(session, read, aligner.finish()).pk)
    clients = {"anonymous": Client(enforce_csrf_checks=True)}
    for name, person in (("student", user), ("operator", operator)):
        clients[name] = Client(enforce_csrf_checks=True)
        clients[name].force_login(person)
    token = bearer(user)
    numbers = {"text": str(text.pk), "other-text": str(other_text.pk), **attempts}
    return clients, token, {"own": str(own.id), "other": str(other.id), **numbers}


FUZZ_EXAMPLES = int(os.environ.get("HTTP_FUZZ_EXAMPLES", "300"))


@hypothesis_settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(request=REQUESTS)
def test_no_input_gets_a_500_and_the_api_answers_json(people, request):
    """Over every route, method, query, body and kind of caller: never a 500 (the test client
    raises the server's exception, so a 500 fails with its traceback); under /api/ and on the
    operations endpoints every refusal is a JSON error with a code."""
    clients, token, ids = people
    path = (
        request["route"]
        .replace("{id}", ids.get(request["id"], request["id"]))
        .replace("{number}", ids.get(request["number"], request["number"]))
        .replace("{text}", request["text"])
    )
    client = clients.get(request["who"], Client(enforce_csrf_checks=True))
    headers = {}
    if request["who"] == "student-token":
        headers = token
    elif request["who"] == "bad-token":
        headers = {"HTTP_AUTHORIZATION": "Bearer " + request["text"].encode("ascii", "replace").decode()}
    response = client.generic(
        request["method"],
        path,
        data=request["body"],
        content_type=request["content_type"],
        QUERY_STRING=urlencode(request["query"]),
        **headers,
    )
    assert response.status_code != 500
    assert response.status_code < 500 or response.status_code == 503, (path, response.status_code)
    api = path.startswith("/api/") or path in OPERATIONS
    if api and response.status_code >= 400 and request["method"] != "HEAD":
        assert response["Content-Type"] == "application/json", (request["method"], path, response.content[:200])
        body = response.json()
        assert body["error"]["code"] if response.status_code != 503 or path != "/readyz" else body["checks"]
