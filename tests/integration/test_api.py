"""REST API under /api/v1/audio-streaming/: every endpoint and its error paths (PostgreSQL)."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from streaming.models import ConversationEntry, SessionStatus, StreamingSession
from streaming.services import add_user_utterance
from tests.support import make_session, token_for

API = "/api/v1/audio-streaming"
pytestmark = pytest.mark.django_db


def bearer(client_user):
    return {"HTTP_AUTHORIZATION": f"Bearer {token_for(client_user)}"}


def post_json(client, url, data, **extra):
    return client.post(url, data=json.dumps(data), content_type="application/json", **extra)


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def test_create_session_with_token(user):
    response = post_json(Client(), f"{API}/sessions", {"language": "en", "input_sample_rate": 48000}, **bearer(user))
    assert response.status_code == 201
    body = response.json()
    session = StreamingSession.objects.get(pk=body["id"])
    assert session.owner == user and session.status == SessionStatus.ACTIVE
    assert body["options"]["input_sample_rate"] == 48000
    assert body["websocketUrl"] == f"/api/v1/audio-streaming/ws/{session.id}"


def test_browser_session_needs_csrf(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert_error(post_json(client, f"{API}/sessions", {}), 403, "csrf_failed")
    client.get("/chat/")  # the page sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = post_json(client, f"{API}/sessions", {}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201


def test_anonymous_and_bad_token_are_401():
    response = Client().get(f"{API}/sessions")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert_error(Client().get(f"{API}/sessions", HTTP_AUTHORIZATION="Bearer nope"), 401, "invalid_token")
    assert_error(Client().get(f"{API}/sessions", HTTP_AUTHORIZATION="Basic abc"), 401, "invalid_token")


def test_revoked_token_is_refused(user):
    raw = token_for(user)
    user.api_tokens.update(is_active=False)
    assert_error(Client().get(f"{API}/sessions", HTTP_AUTHORIZATION=f"Bearer {raw}"), 401, "invalid_token")


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        ({"language": "fr"}, "invalid_field", "language"),
        ({"language": 5}, "invalid_field", "language"),
        ({"input_sample_rate": "48000"}, "invalid_field", "input_sample_rate"),
        ({"input_sample_rate": True}, "invalid_field", "input_sample_rate"),
        ({"input_sample_rate": 1000}, "invalid_field", "input_sample_rate"),
        ({"tts_transport": "carrier-pigeon"}, "invalid_field", "tts_transport"),
        ({"tts_format": "mp3"}, "invalid_field", "tts_format"),
    ],
)
def test_create_session_validation(user, payload, code, field):
    response = post_json(Client(), f"{API}/sessions", payload, **bearer(user))
    assert_error(response, 400, code)
    assert response.json()["error"]["field"] == field


def test_bad_json_bodies(user):
    headers = bearer(user)
    bad = Client().post(f"{API}/sessions", data="{nope", content_type="application/json", **headers)
    assert_error(bad, 400, "invalid_json")
    array = Client().post(f"{API}/sessions", data="[1]", content_type="application/json", **headers)
    assert_error(array, 400, "invalid_json")
    huge = Client().post(
        f"{API}/sessions", data=json.dumps({"x": "a" * 70000}), content_type="application/json", **headers
    )
    assert_error(huge, 413, "payload_too_large")


def test_wrong_method_is_405_with_allow(user):
    response = Client().put(f"{API}/sessions", **bearer(user))
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, POST"


def test_per_user_limit_is_429(user, settings):
    settings.MAX_SESSIONS_PER_USER = 2
    headers = bearer(user)
    for _ in range(2):
        assert post_json(Client(), f"{API}/sessions", {}, **headers).status_code == 201
    assert_error(post_json(Client(), f"{API}/sessions", {}, **headers), 429, "too_many_sessions")


def test_global_limit_is_503(user, other_user, settings):
    settings.MAX_ACTIVE_SESSIONS = 1
    make_session(other_user)
    assert_error(post_json(Client(), f"{API}/sessions", {}, **bearer(user)), 503, "server_full")


def test_list_shows_health_and_own_sessions(user, other_user, staff):
    mine = make_session(user)
    make_session(other_user)
    body = Client().get(f"{API}/sessions", **bearer(user)).json()
    assert [s["id"] for s in body["sessions"]] == [str(mine.id)]
    assert body["totalSessions"] == 2 and body["activeSessions"] == 2
    assert set(body["serviceStatus"]) == {
        "isInitialized",
        "ttsInitialized",
        "modelSize",
        "device",
        "transcriptionWorkers",
        "ttsWorkers",
    }
    assert len(Client().get(f"{API}/sessions", **bearer(staff)).json()["sessions"]) == 2


def test_stats_in_original_shape(user):
    session = make_session(user)
    add_user_utterance(session.id, text="hello", language="en")
    body = Client().get(f"{API}/sessions/{session.id}/stats", **bearer(user)).json()
    for field in (
        "sessionId",
        "createdAt",
        "lastActivity",
        "isActive",
        "language",
        "conversationEntries",
        "bufferChunks",
        "bufferSize",
        "pendingTranscriptions",
        "pendingResponses",
    ):
        assert field in body
    assert body["sessionId"] == str(session.id) and body["conversationEntries"] == 1 and body["isActive"] is True


def test_other_users_session_is_403_and_unknown_is_404(user, other_user, staff):
    theirs = make_session(other_user)
    for suffix in ("", "/stats", "/entries"):
        assert_error(Client().get(f"{API}/sessions/{theirs.id}{suffix}", **bearer(user)), 403, "forbidden")
        assert Client().get(f"{API}/sessions/{theirs.id}{suffix}", **bearer(staff)).status_code == 200
    assert_error(Client().delete(f"{API}/sessions/{theirs.id}", **bearer(user)), 403, "forbidden")
    unknown = "00000000-0000-4000-8000-000000000000"
    assert_error(Client().get(f"{API}/sessions/{unknown}/stats", **bearer(user)), 404, "not_found")


def test_entries_are_paginated(user):
    session = make_session(user)
    for i in range(5):
        add_user_utterance(session.id, text=f"utterance {i}", language="en")
    body = Client().get(f"{API}/sessions/{session.id}/entries?page=2&page_size=2", **bearer(user)).json()
    assert body["count"] == 5 and body["pages"] == 3
    assert [e["text"] for e in body["results"]] == ["utterance 2", "utterance 3"]
    assert [e["sequence"] for e in body["results"]] == [3, 4]
    past_end = Client().get(f"{API}/sessions/{session.id}/entries?page=9", **bearer(user)).json()
    assert past_end["results"] == []
    for query in ("page=0", "page_size=500", "page=abc"):
        assert_error(Client().get(f"{API}/sessions/{session.id}/entries?{query}", **bearer(user)), 400, "invalid_field")


def test_delete_closes_once(user):
    session = make_session(user)
    headers = bearer(user)
    response = Client().delete(f"{API}/sessions/{session.id}", **headers)
    assert response.status_code == 200 and response.json()["status"] == "closed"
    session.refresh_from_db()
    assert session.closed_at is not None
    assert_error(Client().delete(f"{API}/sessions/{session.id}", **headers), 409, "session_not_active")


def test_entry_sequence_is_unique_per_session(user):
    session = make_session(user)
    first = add_user_utterance(session.id, text="a", language="en")
    second = add_user_utterance(session.id, text="b", language="en")
    assert (first.sequence, second.sequence) == (1, 2)
    assert ConversationEntry.objects.filter(session=session).count() == 2


@pytest.mark.parametrize("language", ["x" * 17, "", "en us"])
def test_an_entry_language_is_a_tag_that_fits_its_column(user, language):
    """The model's own check, before the insert: PostgreSQL would refuse a longer one mid-session."""
    session = make_session(user)
    with pytest.raises(ValidationError) as refused:
        add_user_utterance(session.id, text="a", language=language)
    assert "language" in refused.value.message_dict
    assert not ConversationEntry.objects.filter(session=session).exists()
    assert add_user_utterance(session.id, text="a", language="zh-CN").sequence == 1


def test_openapi_document_lists_every_endpoint():
    doc = Client().get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {
        f"{API}/sessions",
        f"{API}/sessions/{{session_id}}",
        f"{API}/sessions/{{session_id}}/stats",
        f"{API}/sessions/{{session_id}}/entries",
        f"{API}/practice-texts",
        f"{API}/practice-texts/{{text_id}}",
        f"{API}/reading-attempts",
        f"{API}/reading-attempts/{{attempt_id}}",
    }
