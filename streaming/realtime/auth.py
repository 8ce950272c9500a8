"""WebSocket authentication: Django login cookie or API token, then an origin check.

Browsers authenticate with the session cookie, so their Origin must be one of ALLOWED_HOSTS
(cross-site WebSocket hijacking). API clients send `Authorization: Bearer …` (or `?token=`,
for clients that cannot set headers); a token is not ambient authority, so they may omit Origin.
"""

from urllib.parse import parse_qs

from channels.auth import AuthMiddleware
from channels.security.websocket import OriginValidator
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from streaming.db import database_sync_to_async
from streaming.outages import DATABASE_DOWN
from streaming.services import authenticate_token, bearer_token


def _scope_token(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return bearer_token(value.decode("latin1")) or ""
    query = parse_qs(scope.get("query_string", b"").decode("latin1"))
    return query.get("token", [None])[0]


class TokenAuthMiddleware:
    """Replace the cookie user with the token's user when a token is presented."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        raw = _scope_token(scope)
        if raw is not None:
            try:
                user = await database_sync_to_async(authenticate_token)(raw)
            except DATABASE_DOWN:
                return await self.app({**scope, "auth_method": "database_unavailable"}, receive, send)
            scope = {**scope, "auth_method": "token" if user else "invalid_token"}
            if user is not None:
                scope["user"] = user
        return await self.app(scope, receive, send)


class OutageAwareAuthMiddleware(AuthMiddleware):
    """Channels' login-cookie user; with the database unreachable, an anonymous user and the
    scope saying why, so the consumer closes with 1013 instead of the handshake failing with 500."""

    async def resolve_scope(self, scope) -> None:
        try:
            await super().resolve_scope(scope)
        except DATABASE_DOWN:
            scope["user"]._wrapped = AnonymousUser()
            scope["auth_method"] = "database_unavailable"


class TokenAwareOriginValidator(OriginValidator):
    """Channels' AllowedHostsOriginValidator, except clients that present a token without an Origin
    pass: a valid token needs no Origin, and a bad one is refused by the consumer with the
    documented close 4401 `invalid_token` (docs/protocol.md) rather than a bare handshake 403.
    Browsers always send an Origin, so their cookie is still checked against ALLOWED_HOSTS."""

    def __init__(self, application):
        super().__init__(application, settings.ALLOWED_HOSTS)

    async def __call__(self, scope, receive, send):
        has_origin = any(name == b"origin" for name, _ in scope.get("headers", []))
        # A token whose check failed for the outage is let through too: the consumer only says so.
        if scope.get("auth_method") in ("token", "invalid_token", "database_unavailable") and not has_origin:
            return await self.application(scope, receive, send)
        return await super().__call__(scope, receive, send)


def websocket_auth_stack(app):
    return CookieMiddleware(
        SessionMiddleware(OutageAwareAuthMiddleware(TokenAuthMiddleware(TokenAwareOriginValidator(app))))
    )
