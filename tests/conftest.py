"""Shared pytest hooks. Unit tests need no service; tests/integration/conftest.py requires the real
PostgreSQL and Redis and fails loudly without them."""

from django.conf import settings

from tests.support import MEMORY_LAYER, REDIS_LAYER


def pytest_report_header(config):
    db = settings.DATABASES["default"]
    return [
        f"database: {db['ENGINE']} {db.get('HOST')}:{db.get('PORT')}/{db.get('NAME')}",
        f"channel layers: {REDIS_LAYER['BACKEND']} {settings.REDIS_URL} and {MEMORY_LAYER['BACKEND']}",
    ]
