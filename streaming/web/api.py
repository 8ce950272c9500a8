"""REST endpoints under /api/v1/audio-streaming/ (thin: parse, call a service, render JSON)."""

from http import HTTPStatus

from django.http import HttpRequest, JsonResponse

from reading.selectors import texts_visible_to
from school import roles
from streaming import selectors, services
from streaming.realtime.messages import notify_session_ended
from streaming.web import dashboard
from streaming.web.http_api import AuthenticatedHttpRequest, api_view, json_body, safe_methods_only
from streaming.web.openapi import openapi_document


def _create_session(request: AuthenticatedHttpRequest) -> JsonResponse:
    session = services.create_session(user=request.user, data=json_body(request))
    return JsonResponse(selectors.session_summary(session), status=HTTPStatus.CREATED)


def _list_sessions(request: AuthenticatedHttpRequest) -> JsonResponse:
    """Service health plus the caller's sessions; operators also get the dashboard's figures."""
    health = dashboard.health_figures() if roles.is_operator(request.user) else selectors.service_health()
    sessions = selectors.sessions_visible_to(request.user)[:200]
    return JsonResponse({**health, "sessions": [selectors.session_summary(s) for s in sessions]})


def _session_stats(request: AuthenticatedHttpRequest, session_id) -> JsonResponse:
    session = selectors.session_for_user(request.user, session_id)
    return JsonResponse(selectors.session_stats(session))


def _session_entries(request: AuthenticatedHttpRequest, session_id) -> JsonResponse:
    session = selectors.session_for_user(request.user, session_id)
    return JsonResponse(selectors.entries_page(session, request.GET.get("page"), request.GET.get("page_size")))


def _session_detail(request: AuthenticatedHttpRequest, session_id) -> JsonResponse:
    return JsonResponse(selectors.session_summary(selectors.session_for_user(request.user, session_id)))


def _close_session(request: AuthenticatedHttpRequest, session_id) -> JsonResponse:
    session = services.end_session(selectors.session_for_user(request.user, session_id))
    notify_session_ended(session.id, session.status)
    return JsonResponse(selectors.session_summary(session))


def _practice_texts(request: AuthenticatedHttpRequest) -> JsonResponse:
    texts = texts_visible_to(request.user)
    return JsonResponse({"results": [selectors.practice_text_dict(t) for t in texts]})


def _practice_text(request: AuthenticatedHttpRequest, text_id: int) -> JsonResponse:
    return JsonResponse(selectors.practice_text_dict(selectors.practice_text_for_user(request.user, text_id)))


def _reading_attempts(request: AuthenticatedHttpRequest) -> JsonResponse:
    return JsonResponse(selectors.attempts_page(request.user, request.GET.dict()))


def _reading_attempt(request: AuthenticatedHttpRequest, attempt_id: int) -> JsonResponse:
    return JsonResponse(selectors.attempt_dict(selectors.attempt_for_user(request.user, attempt_id)))


sessions = api_view({"GET": _list_sessions, "POST": _create_session})
session_detail = api_view({"GET": _session_detail, "DELETE": _close_session})
session_stats = api_view({"GET": _session_stats})
session_entries = api_view({"GET": _session_entries})
practice_texts = api_view({"GET": _practice_texts})
practice_text = api_view({"GET": _practice_text})
reading_attempts = api_view({"GET": _reading_attempts})
reading_attempt = api_view({"GET": _reading_attempt})


@safe_methods_only
def openapi(request: HttpRequest) -> JsonResponse:
    return JsonResponse(openapi_document())
