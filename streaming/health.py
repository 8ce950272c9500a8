"""Operations endpoints: /healthz (the process answers), /readyz (its dependencies) and /metrics.

/healthz is open and says nothing but "ok". /readyz and /metrics tell an outsider a lot about the
service, so: with METRICS_TOKEN set they need `Authorization: Bearer <METRICS_TOKEN>`; without it
only loopback requests that did not come through a proxy, and logged-in operators, get them.
"""

import asyncio
import hmac
import ipaddress
import time
from collections.abc import Callable
from http import HTTPStatus

from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from sessions_admin.roles import is_operator

from .errors import ServiceError
from .http_api import bearer_token, error_response
from .models import WorkerKind

LAYER_TIMEOUT_S = 2.0
# A request relayed by a reverse proxy arrives from loopback too; it is not a local request.
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


# --- channel-layer figures --------------------------------------------------------------------


def _is_redis_layer(layer: BaseChannelLayer) -> bool:
    return hasattr(layer, "ring_size") and hasattr(layer, "connection") and hasattr(layer, "prefix")


async def _redis_pending(layer, channel: str) -> int:
    """channels-redis keeps a channel's queue in a sorted set scored by send time, one per host."""
    if "!" in channel:
        key, indexes = layer.prefix + layer.non_local_name(channel), [layer.consistent_hash(channel)]
    else:
        key, indexes = layer.prefix + channel, range(layer.ring_size)  # general channels: any host
    not_expired = time.time() - int(layer.expiry)
    total = 0
    for index in indexes:
        total += await asyncio.wait_for(layer.connection(index).zcount(key, not_expired, "+inf"), LAYER_TIMEOUT_S)
    return total


def pending_requests(channel: str, layer: BaseChannelLayer | None = None) -> int:
    """Messages waiting on a channel (e.g. `asr`): sent, not yet received by any worker."""
    layer = layer or get_channel_layer()
    if _is_redis_layer(layer):
        return async_to_sync(_redis_pending)(layer, channel)
    queue = getattr(layer, "channels", {}).get(channel)  # InMemoryChannelLayer: name -> asyncio.Queue
    return queue.qsize() if queue is not None else 0


async def _redis_ping(layer) -> None:
    for index in range(layer.ring_size):
        await asyncio.wait_for(layer.connection(index).ping(), LAYER_TIMEOUT_S)


# --- readiness checks -------------------------------------------------------------------------


def check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {}


def check_channel_layer() -> dict:
    layer = get_channel_layer()
    if _is_redis_layer(layer):
        async_to_sync(_redis_ping)(layer)
    return {"backend": type(layer).__name__}


def check_workers() -> dict:
    """At least one worker of each kind with a fresh heartbeat."""
    from .selectors import live_workers

    counts = {kind: live_workers(kind).count() for kind in WorkerKind.values}
    missing = [kind for kind, count in counts.items() if count == 0]
    if missing:
        raise RuntimeError(f"no {' or '.join(missing)} worker with a fresh heartbeat")
    return counts


READINESS_CHECKS: dict[str, Callable[[], dict]] = {
    "database": check_database,
    "channel_layer": check_channel_layer,
    "workers": check_workers,
}


def readiness() -> tuple[bool, dict]:
    """Run every check (none stops the others) and report each one."""
    results = {}
    for name, check in READINESS_CHECKS.items():
        try:
            results[name] = {"ok": True, **check()}
        except Exception as exc:  # any failure means not ready, and the reason is the report
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return all(r["ok"] for r in results.values()), results


# --- access -----------------------------------------------------------------------------------


def _is_local(request: HttpRequest) -> bool:
    if any(request.headers.get(header) for header in PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def operations_refusal(request: HttpRequest) -> ServiceError | None:
    """Why this request may not read /readyz or /metrics, or None when it may."""
    expected = settings.METRICS_TOKEN
    if expected:
        raw = bearer_token(request.headers.get("Authorization", ""))
        if raw and hmac.compare_digest(raw.encode(), expected.encode()):
            return None
        return ServiceError("invalid_token", "Send Authorization: Bearer <METRICS_TOKEN>.", HTTPStatus.UNAUTHORIZED)
    if _is_local(request) or is_operator(request.user):
        return None
    return ServiceError(
        "forbidden", "Only local requests and operators may read this; or set METRICS_TOKEN.", HTTPStatus.FORBIDDEN
    )


def operations_view(view: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    @require_safe
    @never_cache
    def guarded(request: HttpRequest) -> HttpResponse:
        refusal = operations_refusal(request)
        return error_response(refusal) if refusal is not None else view(request)

    guarded.__name__ = guarded.__qualname__ = view.__name__
    guarded.__doc__ = view.__doc__
    return guarded


# --- views ------------------------------------------------------------------------------------


@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process serves requests. Touches nothing else, so it cannot flap."""
    return JsonResponse({"status": "ok"})


@operations_view
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: database, channel layer and a live worker of each kind; 503 names what is missing."""
    ready, checks = readiness()
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status=HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE,
    )


@operations_view
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text exposition."""
    from . import metrics as llb_metrics

    body, content_type = llb_metrics.exposition()
    return HttpResponse(body, content_type=content_type)
