"""The service-wide session limit under parallel creation by many users, on the real PostgreSQL
(issue 20 B1: 65, 66 and 64 sessions were active against a limit of 64)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from streaming.errors import ServiceError
from streaming.models import SessionStatus, StreamingSession
from tests.support import make_session

pytestmark = pytest.mark.django_db(transaction=True)
USERS, LIMIT, ROUNDS = 24, 8, 3


def create_at_once(users) -> list[str]:
    """Every user creates a session at the same moment, each in a thread (and connection) of its
    own; what each got."""
    start = threading.Barrier(len(users))

    def create(user) -> str:
        try:
            start.wait()
            make_session(user)
            return "created"
        except ServiceError as refusal:
            return refusal.code
        finally:
            connection.close()

    with ThreadPoolExecutor(len(users)) as pool:
        return list(pool.map(create, users))


def test_the_session_limit_holds_when_many_users_create_at_once(settings):
    settings.MAX_ACTIVE_SESSIONS = LIMIT
    users = [get_user_model().objects.create_user(f"student{n}") for n in range(USERS)]
    for _ in range(ROUNDS):
        outcomes = create_at_once(users)
        active = StreamingSession.objects.filter(status=SessionStatus.ACTIVE)
        assert (active.count(), outcomes.count("created")) == (LIMIT, LIMIT)
        assert outcomes.count("server_full") == USERS - LIMIT
        active.update(status=SessionStatus.CLOSED, closed_at=timezone.now())
