"""OpenAPI 3.1 description of the REST API, served at /api/v1/openapi.json."""

ERROR = {"$ref": "#/components/schemas/Error"}
SESSION_ID = {"name": "session_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}


def _errors(*statuses: int) -> dict:
    return {str(s): {"description": "Error", "content": {"application/json": {"schema": ERROR}}} for s in statuses}


def _ok(schema: dict, status: int = 200) -> dict:
    return {str(status): {"description": "OK", "content": {"application/json": {"schema": schema}}}}


def openapi_document() -> dict:
    prefix = "/api/v1/audio-streaming"
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
                    "responses": {**_ok({"$ref": "#/components/schemas/Overview"}), **_errors(401)},
                },
                "post": {
                    "summary": "Create a session",
                    "requestBody": {
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewSession"}}}
                    },
                    "responses": {
                        **_ok({"$ref": "#/components/schemas/Session"}, 201),
                        **_errors(400, 401, 403, 429, 503),
                    },
                },
            },
            f"{prefix}/sessions/{{session_id}}": {
                "parameters": [SESSION_ID],
                "get": {
                    "summary": "One session",
                    "responses": {**_ok({"$ref": "#/components/schemas/Session"}), **_errors(401, 403, 404)},
                },
                "delete": {
                    "summary": "End a session (its WebSocket closes)",
                    "responses": {**_ok({"$ref": "#/components/schemas/Session"}), **_errors(401, 403, 404, 409)},
                },
            },
            f"{prefix}/sessions/{{session_id}}/stats": {
                "parameters": [SESSION_ID],
                "get": {
                    "summary": "Session statistics (original field names)",
                    "responses": {**_ok({"$ref": "#/components/schemas/Stats"}), **_errors(401, 403, 404)},
                },
            },
            f"{prefix}/sessions/{{session_id}}/entries": {
                "parameters": [
                    SESSION_ID,
                    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                    {"name": "page_size", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                ],
                "get": {
                    "summary": "The transcript, paginated",
                    "responses": {**_ok({"$ref": "#/components/schemas/EntryPage"}), **_errors(400, 401, 403, 404)},
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
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "field": {"type": "string"},
                            },
                        }
                    },
                },
                "NewSession": {
                    "type": "object",
                    "properties": {
                        "language": {"enum": ["en", "zh", "auto"], "default": "en"},
                        "input_sample_rate": {"type": "integer", "minimum": 8000, "maximum": 192000, "default": 16000},
                        "tts_transport": {"enum": ["json", "binary"], "default": "json"},
                        "tts_encoding": {"enum": ["hex", "base64"], "default": "hex"},
                        "tts_format": {"enum": ["pcm_s16le", "wav"], "default": "pcm_s16le"},
                    },
                },
                "Session": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "owner": {"type": "string"},
                        "language": {"type": "string"},
                        "status": {"enum": ["active", "closed", "expired"]},
                        "options": {"type": "object"},
                        "createdAt": {"type": "string"},
                        "lastActivity": {"type": "string"},
                        "closedAt": {"type": ["string", "null"]},
                        "audioSeconds": {"type": "number"},
                        "chunksReceived": {"type": "integer"},
                        "bytesReceived": {"type": "integer"},
                        "websocketUrl": {"type": "string"},
                    },
                },
                "Stats": {
                    "type": "object",
                    "properties": {
                        k: {"type": t}
                        for k, t in [
                            ("sessionId", "string"),
                            ("createdAt", "string"),
                            ("lastActivity", "string"),
                            ("isActive", "boolean"),
                            ("language", "string"),
                            ("conversationEntries", "integer"),
                            ("bufferChunks", "integer"),
                            ("bufferSize", "integer"),
                            ("pendingTranscriptions", "integer"),
                            ("pendingResponses", "integer"),
                            ("audioSeconds", "number"),
                            ("status", "string"),
                        ]
                    },
                },
                "Overview": {
                    "type": "object",
                    "properties": {
                        "totalSessions": {"type": "integer"},
                        "activeSessions": {"type": "integer"},
                        "serviceStatus": {
                            "type": "object",
                            "properties": {
                                "isInitialized": {"type": "boolean"},
                                "ttsInitialized": {"type": "boolean"},
                                "modelSize": {"type": "string"},
                                "device": {"type": "string"},
                                "transcriptionWorkers": {"type": "integer"},
                                "ttsWorkers": {"type": "integer"},
                            },
                        },
                        "sessions": {"type": "array", "items": {"$ref": "#/components/schemas/Session"}},
                    },
                },
                "Entry": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "sequence": {"type": "integer"},
                        "role": {"enum": ["user", "assistant"]},
                        "text": {"type": "string"},
                        "language": {"type": "string"},
                        "audioDuration": {"type": "number"},
                        "audioStart": {"type": ["number", "null"]},
                        "audioEnd": {"type": ["number", "null"]},
                        "latency": {"type": ["number", "null"]},
                        "createdAt": {"type": "string"},
                    },
                },
                "EntryPage": {
                    "type": "object",
                    "properties": {
                        "sessionId": {"type": "string"},
                        "page": {"type": "integer"},
                        "pageSize": {"type": "integer"},
                        "count": {"type": "integer"},
                        "pages": {"type": "integer"},
                        "results": {"type": "array", "items": {"$ref": "#/components/schemas/Entry"}},
                    },
                },
            },
        },
    }
