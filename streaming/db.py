"""Database calls from async code (consumers, workers, the embedded runtime)."""

from channels.db import DatabaseSyncToAsync
from django.db import reset_queries


class _DatabaseSyncToAsync(DatabaseSyncToAsync):
    def thread_handler(self, loop, *args, **kwargs):
        try:
            return super().thread_handler(loop, *args, **kwargs)
        finally:
            reset_queries()


def database_sync_to_async(func):
    """Channels' `database_sync_to_async`, emptying the DEBUG query log after each call.

    Django empties `connection.queries` when an HTTP request starts; a WebSocket session never
    does, so with DEBUG on (the embedded `make run`) every session's writes piled up in it, up to
    Django's cap per connection: the growth a soak found (docs/decisions/0011).
    """
    return _DatabaseSyncToAsync(func)
