"""Every REST response holds exactly what /api/v1/openapi.json declares: each documented field with
its type (and enum, format, nullability), no undocumented field. The document cannot drift."""

import json
import uuid
from datetime import datetime

import pytest
from django.test import Client

from streaming.models import WorkerHeartbeat
from streaming.services import add_assistant_reply, add_user_utterance
from tests.support import make_session, token_for

API = "/api/v1/audio-streaming"
pytestmark = pytest.mark.django_db

JSON_TYPES = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}
FORMATS = {"uuid": uuid.UUID, "date-time": lambda v: datetime.fromisoformat(v.replace("Z", "+00:00"))}


@pytest.fixture
def doc() -> dict:
    return Client().get("/api/v1/openapi.json").json()


def resolve(doc: dict, schema: dict) -> dict:
    """A schema with its `$ref` followed; keywords beside the `$ref` (a description) are kept."""
    if "$ref" not in schema:
        return schema
    target = doc["components"]["schemas"][schema["$ref"].removeprefix("#/components/schemas/")]
    return {**resolve(doc, target), **{k: v for k, v in schema.items() if k != "$ref"}}


def conform(doc: dict, value, schema: dict, where: str = "$") -> None:
    """Assert `value` is exactly what `schema` declares (the subset of JSON Schema the document uses)."""
    schema = resolve(doc, schema)
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    assert any(JSON_TYPES[t](value) for t in types), f"{where}: {value!r} is not {types}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} is not one of {schema['enum']}"
    if isinstance(value, str) and "format" in schema:
        FORMATS[schema["format"]](value)
    if isinstance(value, list):
        for index, item in enumerate(value):
            conform(doc, item, schema["items"], f"{where}[{index}]")
    if isinstance(value, dict) and "properties" in schema:
        documented = schema["properties"]
        assert set(value) <= set(documented), f"{where}: undocumented {sorted(set(value) - set(documented))}"
        missing = set(schema.get("required", ())) - set(value)
        assert not missing, f"{where}: documented as required but missing {sorted(missing)}"
        for key, item in value.items():
            conform(doc, item, documented[key], f"{where}.{key}")
    if isinstance(value, dict) and "additionalProperties" in schema:
        for key, item in value.items():
            conform(doc, item, schema["additionalProperties"], f"{where}.{key}")


def assert_documented(doc: dict, response, path: str, method: str) -> dict:
    """The response's status is documented for the operation and its body conforms; returns the body schema."""
    responses = doc["paths"][API + path][method]["responses"]
    assert str(response.status_code) in responses, f"{method} {path}: {response.status_code} is not documented"
    schema = responses[str(response.status_code)]["content"]["application/json"]["schema"]
    conform(doc, response.json(), schema)
    return resolve(doc, schema)


def bearer(person) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token_for(person)}"}


def test_every_response_is_what_the_document_declares(doc, user, staff):
    headers = bearer(user)
    body = json.dumps({"language": "en"})
    created = Client().post(f"{API}/sessions", data=body, content_type="application/json", **headers)
    schema = assert_documented(doc, created, "/sessions", "post")
    assert set(created.json()) == set(schema["properties"]) == set(schema["required"])

    session_id = created.json()["id"]
    add_user_utterance(session_id, text="hello", language="en", audio_duration=1.2, audio_start=0.1, audio_end=1.3)
    add_assistant_reply(session_id, text="Good job!", language="en", latency=0.4)
    one = "/sessions/{session_id}"
    for path in (one, one + "/stats", one + "/entries"):
        response = Client().get(API + path.format(session_id=session_id) + "?page_size=10", **headers)
        assert response.status_code == 200
        schema = assert_documented(doc, response, path, "get")
        assert set(response.json()) == set(schema["properties"])
    entries = Client().get(f"{API}/sessions/{session_id}/entries", **headers).json()["results"]
    assert [e["audioStart"] for e in entries] == [0.1, None]  # both sides of a nullable field

    listed = Client().get(f"{API}/sessions", **headers)
    schema = assert_documented(doc, listed, "/sessions", "get")
    assert set(listed.json()) == set(schema["required"])  # not an operator: no dashboard figures

    closed = Client().delete(f"{API}/sessions/{session_id}", **headers)
    assert closed.status_code == 200 and closed.json()["closedAt"] is not None
    assert_documented(doc, closed, one, "delete")


def test_an_operators_list_has_every_documented_field(doc, user, staff):
    WorkerHeartbeat.objects.create(kind="asr", host="box-1", pid=7, model="tiny.en", device="cpu")
    session = make_session(user)
    add_user_utterance(session.id, text="hello", language="en", latency=0.5, word_latency=0.3)
    response = Client().get(f"{API}/sessions", **bearer(staff))
    schema = assert_documented(doc, response, "/sessions", "get")
    assert set(response.json()) == set(schema["properties"])
    assert response.json()["workers"] and response.json()["sessions"]


def test_errors_are_what_the_document_declares(doc, user, other_user):
    headers = bearer(user)
    bad_field = Client().post(
        f"{API}/sessions", data=json.dumps({"tts_format": "mp3"}), content_type="application/json", **headers
    )
    assert bad_field.status_code == 400
    assert_documented(doc, bad_field, "/sessions", "post")
    theirs = make_session(other_user)
    forbidden = Client().get(f"{API}/sessions/{theirs.id}/stats", **headers)
    assert forbidden.status_code == 403
    assert_documented(doc, forbidden, "/sessions/{session_id}/stats", "get")
    assert_documented(doc, Client().get(f"{API}/sessions"), "/sessions", "get")
    closed = make_session(user)
    Client().delete(f"{API}/sessions/{closed.id}", **headers)
    twice = Client().delete(f"{API}/sessions/{closed.id}", **headers)
    assert twice.status_code == 409
    assert_documented(doc, twice, "/sessions/{session_id}", "delete")
    error = doc["components"]["schemas"]["ErrorDetail"]
    assert set(bad_field.json()["error"]) == set(error["properties"])  # `field` when a field is at fault
    assert set(twice.json()["error"]) == set(error["required"])


def test_reading_practice_responses_are_what_the_document_declares(doc, user, staff):
    from reading.models import PracticeText
    from reading.services import create_attempt
    from school.models import Classroom
    from streaming.core.reading import ReadingAligner
    from streaming.core.stabilizer import Word

    text = PracticeText.objects.create(title="Cats", language="en", text="The cat sat on the mat.")
    classroom = Classroom.objects.create(name="5B")
    classroom.students.add(user)
    text.classrooms.add(classroom)
    headers = bearer(user)
    body = json.dumps({"practice_text_id": text.pk})
    created = Client().post(f"{API}/sessions", data=body, content_type="application/json", **headers)
    assert created.status_code == 201
    assert_documented(doc, created, "/sessions", "post")
    aligner = ReadingAligner(text.reference())
    aligner.update([Word(0.5, 0.8, " The"), Word(0.9, 1.2, " cat"), Word(1.3, 1.5, " dog")])
    session = make_session(user, practice_text_id=text.pk)
    attempt = create_attempt(session, text, aligner.finish())
    for path, url in (
        ("/practice-texts", "/practice-texts"),
        ("/practice-texts/{text_id}", f"/practice-texts/{text.pk}"),
        ("/reading-attempts", f"/reading-attempts?text={text.pk}&page_size=5"),
        ("/reading-attempts/{attempt_id}", f"/reading-attempts/{attempt.pk}"),
    ):
        for who in (user, staff):
            response = Client().get(API + url, **bearer(who))
            assert response.status_code == 200, (url, response.content[:200])
            schema = assert_documented(doc, response, path, "get")
            assert set(response.json()) == set(schema["properties"])
    assert Client().get(f"{API}/reading-attempts", **headers).json()["results"][0]["wcpm"] > 0
    missing = Client().get(f"{API}/reading-attempts/{attempt.pk + 1000}", **headers)
    assert missing.status_code == 404
    assert_documented(doc, missing, "/reading-attempts/{attempt_id}", "get")
    bad = Client().get(f"{API}/reading-attempts?session=x", **headers)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "session"
    assert_documented(doc, bad, "/reading-attempts", "get")
