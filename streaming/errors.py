"""Errors the service reports to clients: a stable machine-readable code plus a message."""

from http import HTTPStatus
from typing import Annotated, NotRequired, TypedDict

from streaming.shapes import Doc


class ErrorDetail(TypedDict):
    """What went wrong; `code` is for programs, `message` for people."""

    code: Annotated[str, Doc("Stable and machine-readable, e.g. invalid_field, not_found (docs/api.md).")]
    message: Annotated[str, Doc("A sentence for people; its wording may change.")]
    field: NotRequired[Annotated[str, Doc("The request field at fault (invalid_field, language_unsupported).")]]


class ServiceError(Exception):
    """A refusal that maps to an HTTP status for REST and to an `error` message on the socket."""

    def __init__(self, code: str, message: str, status: int = HTTPStatus.BAD_REQUEST, *, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = int(status)
        self.field = field

    def as_dict(self) -> ErrorDetail:
        detail: ErrorDetail = {"code": self.code, "message": self.message}
        if self.field is not None:
            detail["field"] = self.field
        return detail


def not_found(what: str = "session") -> ServiceError:
    return ServiceError("not_found", f"No such {what}.", HTTPStatus.NOT_FOUND)


def forbidden(message: str = "This session belongs to someone else.") -> ServiceError:
    return ServiceError("forbidden", message, HTTPStatus.FORBIDDEN)


def invalid_field(field: str, message: str) -> ServiceError:
    return ServiceError("invalid_field", message, HTTPStatus.BAD_REQUEST, field=field)
