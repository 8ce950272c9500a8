"""Operations endpoints: /healthz (the process answers), /readyz (its dependencies) and /metrics.

/healthz is open and says nothing but "ok". /readyz and /metrics tell an outsider a lot about the
service, so: with METRICS_TOKEN set they need `Authorization: Bearer <METRICS_TOKEN>`; without it
only loopback requests that did not come through a proxy, and logged-in operators, get them.
"""

import hmac
import ipaddress
import logging
from collections.abc import Callable
from http import HTTPStatus

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache

from school.roles import is_operator
from streaming import asr_models
from streaming.errors import ServiceError
from streaming.models import WorkerKind
from streaming.realtime.channel_layers import ping
from streaming.selectors import live_workers
from streaming.services import bearer_token
from streaming.web.exposition import exposition
from streaming.web.http_api import error_response, safe_methods_only

# A request relayed by a reverse proxy arrives from loopback too; it is not a local request.
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")

logger = logging.getLogger(__name__)


# --- readiness checks -------------------------------------------------------------------------


def check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {}


def check_channel_layer() -> dict:
    layer = get_channel_layer()
    ping(layer)
    return {"backend": type(layer).__name__}


def check_workers() -> dict:
    """At least one worker of each kind with a fresh heartbeat; how many serve each speech model.

    A model without a worker is reported, not fatal: English must not drop out of the load
    balancer because the Mandarin workers are down.
    """
    counts: dict = {kind: live_workers(kind).count() for kind in WorkerKind.values}
    missing = [kind for kind, count in counts.items() if count == 0]
    if missing:
        raise RuntimeError(f"no {' or '.join(missing)} worker with a fresh heartbeat")
    counts["asr_models"] = asr_models.workers_per_model(live_workers(WorkerKind.ASR).values_list("model", flat=True))
    return counts


READINESS_CHECKS: dict[str, Callable[[], dict]] = {
    "database": check_database,
    "channel_layer": check_channel_layer,
    "workers": check_workers,
}


class ReadinessLog:
    """Logs this process's readiness when it changes: not ready at WARNING with the failing checks,
    ready again at INFO. A 503 from /readyz is an answer, not a server error: logged by Django's
    request logger at ERROR on every probe, a fault (or each start-up) floods the log and hides the
    real errors."""

    def __init__(self) -> None:
        self.ready: bool | None = None

    def record(self, ready: bool, checks: dict) -> None:
        previous, self.ready = self.ready, ready
        if ready == previous or (ready and previous is None):
            return
        if ready:
            logger.info("ready again")
        else:
            failing = {name: check["error"] for name, check in checks.items() if not check["ok"]}
            logger.warning("not ready: %s", failing)


readiness_log = ReadinessLog()


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
    @safe_methods_only
    @never_cache
    def guarded(request: HttpRequest) -> HttpResponse:
        refusal = operations_refusal(request)
        return error_response(refusal) if refusal is not None else view(request)

    guarded.__name__ = guarded.__qualname__ = view.__name__
    guarded.__doc__ = view.__doc__
    return guarded


# --- views ------------------------------------------------------------------------------------


@safe_methods_only
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process serves requests. Touches nothing else, so it cannot flap."""
    return JsonResponse({"status": "ok"})


@operations_view
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: database, channel layer and a live worker of each kind; 503 names what is missing."""
    ready, checks = readiness()
    readiness_log.record(ready, checks)
    response = JsonResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status=HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE,
    )
    # Django's request logger skips a response marked logged: `readiness_log` has reported it.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


@operations_view
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text exposition."""
    body, content_type = exposition()
    return HttpResponse(body, content_type=content_type)
