"""Database calls from async code: an hour-long WebSocket session must not pile up the DEBUG query
log (Django empties it only when an HTTP request starts)."""

import channels.db
import pytest
from django.contrib.auth import get_user_model
from django.db import connections

from streaming.db import database_sync_to_async

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def count_users():
    """One query; returns the thread's connection so the test can read its log."""
    get_user_model().objects.count()
    return connections["default"]


async def test_async_database_calls_leave_no_debug_query_log(settings):
    settings.DEBUG = True
    logged = await channels.db.database_sync_to_async(count_users)()
    assert len(logged.queries_log) >= 1  # what Channels' own wrapper leaves behind
    ours = await database_sync_to_async(count_users)()
    assert len(ours.queries_log) == 0
