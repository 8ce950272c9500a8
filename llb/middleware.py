"""Project-wide request checks that belong to no single view."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest


def refuse_null_characters(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """A NUL character in a query parameter is a 400 before any view runs: PostgreSQL text cannot
    hold one, so an admin list filtering on it failed as a 500, and no page of ours has a use for it.
    The JSON API checks each of its parameters itself (400 `invalid_field`, docs/api.md)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/api/") and any(
            "\x00" in name or "\x00" in value for name, values in request.GET.lists() for value in values
        ):
            return HttpResponseBadRequest("A query parameter holds a NUL character.", content_type="text/plain")
        return get_response(request)

    return middleware
