"""Plumbing for the JSON API: authentication (session cookie or bearer token), CSRF, errors."""

import functools
import json
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, TypedDict

from django.core.exceptions import BadRequest, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from streaming.errors import ErrorDetail, ServiceError
from streaming.outages import DATABASE_DOWN, DatabaseUnavailable
from streaming.services import authenticate_token, bearer_token

if TYPE_CHECKING:
    from django.contrib.auth.models import User

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
MAX_JSON_BODY = 64 * 1024
# Django's refusals of a body it cannot parse as a form (the CSRF check of a cookie-authenticated
# request reads it): HTML 400 pages unless the API answers them.
UNPARSEABLE_BODY = (MultiPartParserError, TooManyFieldsSent, TooManyFilesSent, BadRequest)


class Error(TypedDict):
    """The body of every refusal, sent with its HTTP status (docs/api.md lists the codes)."""

    error: ErrorDetail


class AuthenticatedHttpRequest(HttpRequest):
    """What `api_view` hands its handlers: `authenticate` let it through, so its user has logged in."""

    user: "User"


def payload_too_large() -> ServiceError:
    return ServiceError("payload_too_large", "The request body is too large.", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)


def method_not_allowed(request: HttpRequest, allowed: list[str]) -> JsonResponse:
    response = error_response(
        ServiceError("method_not_allowed", f"{request.method} is not allowed here.", HTTPStatus.METHOD_NOT_ALLOWED)
    )
    response["Allow"] = ", ".join(allowed)
    return response


def error_response(error: ServiceError) -> JsonResponse:
    response = JsonResponse(Error(error=error.as_dict()), status=error.status)
    if error.status == HTTPStatus.UNAUTHORIZED:
        response["WWW-Authenticate"] = 'Bearer realm="llb"'
    return response


def _csrf_failure(request: HttpRequest) -> ServiceError | None:
    """Cookie-authenticated unsafe requests must carry the CSRF token, as Django forms do."""
    check = CsrfViewMiddleware(lambda req: HttpResponse())
    check.process_request(request)
    rejected = check.process_view(request, lambda req: HttpResponse(), (), {})
    if rejected is not None:
        return ServiceError("csrf_failed", "CSRF token missing or incorrect.", HTTPStatus.FORBIDDEN)
    return None


def authenticate(request: HttpRequest) -> ServiceError | None:
    """Set request.user from a bearer token if one is sent; else keep the login session."""
    header = request.headers.get("Authorization", "")
    if header:
        raw = bearer_token(header)
        user = authenticate_token(raw) if raw else None
        if user is None:
            return ServiceError(
                "invalid_token", "The bearer token is missing, unknown or revoked.", HTTPStatus.UNAUTHORIZED
            )
        request.user = user
        return None
    if not request.user.is_authenticated:
        return ServiceError("not_authenticated", "Log in or send a bearer token.", HTTPStatus.UNAUTHORIZED)
    if request.method not in SAFE_METHODS:
        return _csrf_failure(request)
    return None


def json_body(request: HttpRequest) -> dict:
    if not request.body:
        return {}
    if len(request.body) > MAX_JSON_BODY:
        raise payload_too_large()
    try:
        data = json.loads(request.body)
    except (ValueError, RecursionError):  # deep nesting exhausts the parser's recursion
        raise ServiceError("invalid_json", "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ServiceError("invalid_json", "The request body must be a JSON object.")
    return data


def api_view(methods: dict[str, Callable[..., JsonResponse]]) -> Callable[..., HttpResponse]:
    """One URL, one handler per method; every failure becomes `{"error": {code, message}}`.
    Handlers see only authenticated requests (`AuthenticatedHttpRequest`).

    An unreachable database (the token or login lookup included) is 503 `database_unavailable`,
    not a 500: the request can be repeated once it is back, and nothing was written (a refused
    connection writes nothing; docs/decisions/0036)."""

    @csrf_exempt
    def view(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        handler = methods.get(request.method or "")
        if handler is None:
            return method_not_allowed(request, list(methods))
        try:
            failure = authenticate(request)
            if failure is not None:
                return error_response(failure)
            return handler(request, *args, **kwargs)
        except ServiceError as error:
            return error_response(error)
        except RequestDataTooBig:  # DATA_UPLOAD_MAX_MEMORY_SIZE, met before MAX_JSON_BODY is
            return error_response(payload_too_large())
        except UNPARSEABLE_BODY:
            return error_response(ServiceError("invalid_body", "The request body could not be parsed."))
        except DATABASE_DOWN:
            return error_response(DatabaseUnavailable())

    functools.update_wrapper(view, next(iter(methods.values())))
    return view


def safe_methods_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """GET and HEAD, anything else a JSON 405: Django's `require_safe` answers too late, after the
    CSRF middleware has refused an unsafe method with its HTML 403. These views change nothing, so
    they need no CSRF check."""

    @csrf_exempt
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return method_not_allowed(request, ["GET", "HEAD"])
        return view(request, *args, **kwargs)

    return functools.update_wrapper(guarded, view)


@csrf_exempt
def api_not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """Any other path under /api/ (a session id that is not a UUID, a trailing slash): the API's
    JSON 404, not Django's HTML page."""
    return error_response(ServiceError("not_found", "No such API endpoint.", HTTPStatus.NOT_FOUND))
