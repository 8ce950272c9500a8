"""Shared fixtures. The suite needs the real PostgreSQL and Redis: it fails loudly without them."""

import asyncio
import contextlib

import psycopg
import pytest
import redis
from channels.layers import channel_layers, get_channel_layer
from channels.routing import get_default_application
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from streaming import services

REDIS_LAYER = settings.CHANNEL_LAYERS["default"]
MEMORY_LAYER = {"BACKEND": "streaming.channel_layers.RankedInMemoryChannelLayer"}


def pytest_report_header(config):
    db = settings.DATABASES["default"]
    return [
        f"database: {db['ENGINE']} {db.get('HOST')}:{db.get('PORT')}/{db.get('NAME')}",
        f"channel layers: {REDIS_LAYER['BACKEND']} {settings.REDIS_URL} and {MEMORY_LAYER['BACKEND']}",
    ]


@pytest.fixture(scope="session", autouse=True)
def production_services_are_up():
    """Fail (not skip) when PostgreSQL or Redis is missing: these tests exist to exercise them."""
    db = settings.DATABASES["default"]
    assert db["ENGINE"] == "django.db.backends.postgresql", "tests must run on PostgreSQL"
    try:
        psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], connect_timeout=3).close()
    except psycopg.Error as exc:
        pytest.fail(f"PostgreSQL is required at {db['HOST']}:{db['PORT']}: {exc}", pytrace=False)
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is required at {settings.REDIS_URL}: {exc}", pytrace=False)


@pytest.fixture(params=["redis", "memory"])
def layer(request, settings):
    """Run the test through both channel layers (production and embedded)."""
    settings.CHANNEL_LAYERS = {"default": REDIS_LAYER if request.param == "redis" else MEMORY_LAYER}
    channel_layers.backends.clear()
    yield request.param
    channel_layers.backends.clear()


@pytest.fixture
def memory_layer(settings):
    """The embedded server's in-memory channel layer."""
    settings.CHANNEL_LAYERS = {"default": MEMORY_LAYER}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("student", password="pw-student-123")


@pytest.fixture
def other_user(db):
    return get_user_model().objects.create_user("other", password="pw-other-123")


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("operator", password="pw-operator-123", is_staff=True)


def make_session(user, **data):
    return services.create_session(user=user, data=data)


def token_for(user) -> str:
    return services.issue_api_token(user=user, name="test")[1]


@contextlib.asynccontextmanager
async def in_process_workers(kinds=("asr", "tts")):
    """The ASR/TTS workers as tasks in this event loop, exactly as the embedded server runs them."""
    from streaming.runtime import embedded_workers

    workers = [w for w in embedded_workers(get_channel_layer()) if w.channels[0] in kinds]
    tasks = [asyncio.ensure_future(w.arun()) for w in workers]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def open_socket(session_id, token: str | None = None, origin: bytes | None = b"http://localhost", headers=()):
    """Connect to the session's WebSocket and return (communicator, first message)."""
    all_headers = list(headers)
    if token:
        all_headers.append((b"authorization", f"Bearer {token}".encode()))
    if origin:
        all_headers.append((b"origin", origin))
    communicator = WebsocketCommunicator(
        get_default_application(), f"/api/v1/audio-streaming/ws/{session_id}", headers=all_headers
    )
    connected, _ = await communicator.connect(timeout=10)
    first = await communicator.receive_json_from(timeout=10) if connected else None
    return communicator, connected, first


@pytest.fixture(scope="session", autouse=True)
def close_stray_connections(django_db_setup, django_db_blocker):
    """Worker threads and subprocesses may still hold the test database at the end: end those
    connections so the per-run test database is dropped rather than left behind."""
    yield
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
