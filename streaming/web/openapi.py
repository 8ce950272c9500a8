"""OpenAPI 3.1 description of the REST API, served at /api/v1/openapi.json.

The paths are written here; every body's schema is generated from the TypedDict the code builds
that body with, so the document says what the responses hold, field by field.
"""

import inspect
from enum import Enum
from types import NoneType, UnionType
from typing import Annotated, Literal, NotRequired, Required, Union, get_args, get_origin, get_type_hints, is_typeddict

from streaming.selectors import MAX_ID, MAX_PAGE_SIZE
from streaming.services import NewSession
from streaming.shapes import (
    Doc,
    EntryPage,
    PracticeText,
    PracticeTextList,
    ReadingAttempt,
    ReadingAttemptPage,
    Session,
    Stats,
)
from streaming.web.dashboard import HealthFigures
from streaming.web.http_api import Error

JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object"}
SESSION_ID = {"name": "session_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
ID_SCHEMA = {"type": "integer", "minimum": 0, "maximum": MAX_ID}
PAGING = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {"name": "page_size", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}},
]


class Overview(HealthFigures):
    """The session list: service health, the dashboard's figures for operators, the sessions (newest 200)."""

    sessions: list[Session]


def json_schema(annotation, components: dict) -> dict:
    """The JSON Schema of a type; a TypedDict is added to `components` and referenced by its name."""
    keywords: dict = {}
    schema: dict
    if get_origin(annotation) is Annotated:
        annotation, *metadata = get_args(annotation)
        for item in metadata:
            if isinstance(item, Doc):
                keywords.update(item.keywords)
    origin, args = get_origin(annotation), get_args(annotation)
    if is_typeddict(annotation):
        if annotation.__name__ not in components:
            components[annotation.__name__] = _object_schema(annotation, components)
        schema = {"$ref": f"#/components/schemas/{annotation.__name__}"}
    elif origin in (Required, NotRequired):
        schema = json_schema(args[0], components)
    elif origin in (Union, UnionType):
        (value,) = (arg for arg in args if arg is not NoneType)
        schema = json_schema(value, components)
        schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
    elif origin is Literal:
        schema = {"type": JSON_TYPES[type(args[0])], "enum": list(args)}
    elif isinstance(annotation, type) and issubclass(annotation, Enum):
        schema = {"type": "string", "enum": [member.value for member in annotation]}
    elif origin is list:
        schema = {"type": "array", "items": json_schema(args[0], components)}
    elif origin is dict:
        schema = {"type": "object", "additionalProperties": json_schema(args[1], components)}
    else:
        schema = {"type": JSON_TYPES[annotation]}
    return {**schema, **keywords}


def _object_schema(shape, components: dict) -> dict:
    """A TypedDict as an object schema, described by its docstring; its required keys are required."""
    fields = get_type_hints(shape, include_extras=True)
    schema: dict = {"type": "object"}
    if shape.__doc__:
        paragraphs = inspect.cleandoc(shape.__doc__).split("\n\n")
        schema["description"] = "\n\n".join(p.replace("\n", " ") for p in paragraphs)
    schema["properties"] = {name: json_schema(hint, components) for name, hint in fields.items()}
    required = [name for name in fields if name in shape.__required_keys__]
    if required:
        schema["required"] = required
    return schema


def _errors(schema: dict, *statuses: int) -> dict:
    return {str(s): {"description": "Error", "content": {"application/json": {"schema": schema}}} for s in statuses}


def _ok(schema: dict, status: int = 200) -> dict:
    return {str(status): {"description": "OK", "content": {"application/json": {"schema": schema}}}}


def openapi_document() -> dict:
    prefix = "/api/v1/audio-streaming"
    schemas: dict = {}

    def ref(shape) -> dict:
        return json_schema(shape, schemas)

    error = ref(Error)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "LLB Voice API",
            "version": "1.0.0",
            "description": "Sessions for real-time transcription and spoken replies. "
            "Audio flows over the WebSocket described in docs/protocol.md.",
        },
        "security": [{"bearer": []}, {"session": []}],
        "paths": {
            f"{prefix}/sessions": {
                "get": {
                    "summary": "Service health and the caller's sessions (staff: all)",
                    "responses": {**_ok(ref(Overview)), **_errors(error, 401, 503)},
                },
                "post": {
                    "summary": "Create a session",
                    "requestBody": {"content": {"application/json": {"schema": ref(NewSession)}}},
                    "responses": {
                        **_ok(ref(Session), 201),
                        **_errors(error, 400, 401, 403, 429, 503),
                    },
                },
            },
            f"{prefix}/sessions/{{session_id}}": {
                "parameters": [SESSION_ID],
                "get": {
                    "summary": "One session",
                    "responses": {**_ok(ref(Session)), **_errors(error, 401, 403, 404, 503)},
                },
                "delete": {
                    "summary": "End a session (its WebSocket closes)",
                    "responses": {**_ok(ref(Session)), **_errors(error, 401, 403, 404, 409, 503)},
                },
            },
            f"{prefix}/sessions/{{session_id}}/stats": {
                "parameters": [SESSION_ID],
                "get": {
                    "summary": "Session statistics (original field names)",
                    "responses": {**_ok(ref(Stats)), **_errors(error, 401, 403, 404, 503)},
                },
            },
            f"{prefix}/sessions/{{session_id}}/entries": {
                "parameters": [SESSION_ID, *PAGING],
                "get": {
                    "summary": "The transcript, paginated",
                    "responses": {**_ok(ref(EntryPage)), **_errors(error, 400, 401, 403, 404, 503)},
                },
            },
            f"{prefix}/practice-texts": {
                "get": {
                    "summary": "The practice texts the caller may read (students: assigned to their classrooms)",
                    "responses": {**_ok(ref(PracticeTextList)), **_errors(error, 401)},
                },
            },
            f"{prefix}/practice-texts/{{text_id}}": {
                "parameters": [{"name": "text_id", "in": "path", "required": True, "schema": ID_SCHEMA}],
                "get": {
                    "summary": "One practice text, with its words as they are scored",
                    "responses": {**_ok(ref(PracticeText)), **_errors(error, 401, 404)},
                },
            },
            f"{prefix}/reading-attempts": {
                "parameters": [
                    {"name": "session", "in": "query", "schema": {"type": "string", "format": "uuid"}},
                    {"name": "text", "in": "query", "schema": ID_SCHEMA},
                    *PAGING,
                ],
                "get": {
                    "summary": "Reading attempts the caller may see, newest first, paginated",
                    "responses": {**_ok(ref(ReadingAttemptPage)), **_errors(error, 400, 401)},
                },
            },
            f"{prefix}/reading-attempts/{{attempt_id}}": {
                "parameters": [{"name": "attempt_id", "in": "path", "required": True, "schema": ID_SCHEMA}],
                "get": {
                    "summary": "One reading attempt with its word-by-word result",
                    "responses": {**_ok(ref(ReadingAttempt)), **_errors(error, 401, 404)},
                },
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "API token from the admin"},
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "sessionid",
                    "description": "Django login; unsafe methods need X-CSRFToken",
                },
            },
            "schemas": schemas,
        },
    }
