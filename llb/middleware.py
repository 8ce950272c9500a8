"""Project-wide request checks that belong to no single view."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest


def refuse_null_characters(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """A NUL character in a query parameter of an admin page is a 400 before the page runs: the
    admin's lists filter on their parameters, PostgreSQL text cannot hold a NUL, and the query failed
    as a 500. The JSON API and the operations endpoints check their parameters themselves (400
    `invalid_field` in JSON, docs/api.md); the other pages filter on none."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/admin/") and any(
            "\x00" in name or "\x00" in value for name, values in request.GET.lists() for value in values
        ):
            return HttpResponseBadRequest("A query parameter holds a NUL character.", content_type="text/plain")
        return get_response(request)

    return middleware
