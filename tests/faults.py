"""Faults made for real: PostgreSQL refusing connections, Redis paused, a Redis server of the
test's own stopped and started again.

The first two act on shared servers, so the tests using them run under the heavy-test lock (see
tests/integration/test_faults.py). Only this run's test database is refused, never another's.
"""

import contextlib
import socket
import subprocess
import time

import psycopg
import redis
from asgiref.sync import SyncToAsync
from django.conf import settings
from django.db import close_old_connections, connection


def _admin() -> psycopg.Connection:
    db = settings.DATABASES["default"]
    return psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres", autocommit=True)


@contextlib.contextmanager
def database_refused():
    """While inside: the test database accepts no connection and every open one is ended, as in an
    outage of the server; afterwards it accepts them again."""
    name = connection.settings_dict["NAME"]
    with _admin() as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        try:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    close_old_connections()  # this thread's connection was ended: the next query opens a new one
    connection.close()
    # So was the one of sync_to_async's own thread (async tests' queries), which outlives the test.
    # Not waited for: this may run on that very thread; the close is queued before its next query.
    SyncToAsync.single_thread_executor.submit(lambda: connection.close())  # that thread's connection


def refuse_database_for(seconds: float) -> float:
    """Refuse the test database for `seconds`; returns the monotonic time it came back."""
    with database_refused():
        time.sleep(seconds)
    return time.monotonic()


def pause_redis(milliseconds: int) -> None:
    """`CLIENT PAUSE … ALL` on the shared Redis: every client's commands wait until it ends."""
    redis.Redis.from_url(settings.REDIS_URL).execute_command("CLIENT", "PAUSE", milliseconds, "ALL")


class PrivateRedis:
    """A Redis server of the test's own on a free port, which it may stop (connections refused,
    its data gone, as when Redis restarts) and start again: the shared one must stay up."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                assert self.process.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def restart_after(self, seconds: float) -> None:
        """Kill the server, refuse connections for `seconds`, and start an empty one."""
        self.stop()
        time.sleep(seconds)
        self.start()
