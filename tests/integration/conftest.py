"""Integration fixtures. These tests exercise the real PostgreSQL and Redis: they fail loudly without them."""

import psycopg
import pytest
import redis
from channels.layers import channel_layers
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from tests.support import MEMORY_LAYER, REDIS_LAYER


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


@pytest.fixture(scope="module")
def live_daphne(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real daphne on this run's test database and Redis, started as the Makefile starts it (its
    WebSocket message limits included). No workers: the module starts those it needs."""
    from tests.live_server import running_server
    from tests.support import production_env

    with django_db_blocker.unblock():
        env = production_env(LLB_DATA_DIR=str(tmp_path_factory.mktemp("daphne")))
    with running_server(env) as base:
        yield base
