"""The JSON shapes the REST API returns, written once as TypedDicts.

The selectors build them; `streaming.web.openapi` turns them into the OpenAPI document, so the
document says exactly what the code returns. A field's meaning, and what its Python type cannot
say (a format, a range, a default), goes in a `Doc` beside its type. Shapes built elsewhere sit
beside their builders: `ErrorDetail` in streaming.errors, the request body `NewSession` in
streaming.services, the operators' figures in streaming.web.dashboard.
"""

from typing import Annotated, Literal, TypedDict

from streaming.engines.asr.languages import SessionLanguage
from streaming.models import EntryRole, SessionStatus


class Doc:
    """A field's description and extra JSON Schema keywords, for `Annotated[type, Doc(...)]`."""

    def __init__(self, description: str = "", **keywords: object):
        self.keywords = {"description": description, **keywords} if description else keywords


Timestamp = Annotated[str, Doc(format="date-time")]
SessionId = Annotated[str, Doc("The session's id.", format="uuid")]


class Session(TypedDict):
    """A streaming session."""

    id: SessionId
    owner: Annotated[str, Doc("The owner's username.")]
    language: Annotated[SessionLanguage, Doc("The language chosen at creation.")]
    status: SessionStatus
    options: Annotated[dict, Doc("The options chosen at creation: the NewSession fields other than language.")]
    createdAt: Timestamp
    lastActivity: Annotated[Timestamp, Doc("The last audio received or transcript entry.")]
    closedAt: Annotated[Timestamp | None, Doc("When it was closed or expired; null while active.")]
    audioSeconds: Annotated[float, Doc("Seconds of audio received.")]
    chunksReceived: Annotated[int, Doc("Audio chunks received.")]
    bytesReceived: Annotated[int, Doc("Audio bytes received.")]
    websocketUrl: Annotated[str, Doc("The path of its WebSocket (docs/protocol.md).")]


class Stats(TypedDict):
    """A session's statistics, in the original service's field names.

    The buffer and pending figures are live, published by the connection holding the session
    (0 when none is connected).
    """

    sessionId: SessionId
    createdAt: Timestamp
    lastActivity: Timestamp
    isActive: bool
    language: SessionLanguage
    conversationEntries: Annotated[int, Doc("Transcript entries so far (student and replies).")]
    bufferChunks: Annotated[int, Doc("Audio chunks waiting to be transcribed.")]
    bufferSize: Annotated[int, Doc("Bytes of audio waiting to be transcribed.")]
    pendingTranscriptions: Annotated[int, Doc("Transcriptions requested and not yet answered.")]
    pendingResponses: Annotated[int, Doc("Spoken replies requested and not yet answered.")]
    audioSeconds: Annotated[float, Doc("Seconds of audio received.")]
    status: SessionStatus


class ServiceStatus(TypedDict):
    """The speech workers; a worker counts while its heartbeat is younger than 3 heartbeat intervals."""

    isInitialized: Annotated[bool, Doc("At least one transcription worker is alive.")]
    ttsInitialized: Annotated[bool, Doc("At least one speech-synthesis worker is alive.")]
    modelSize: Annotated[str, Doc("The Whisper model (WHISPER_MODEL).")]
    device: Annotated[str, Doc("The live transcription workers' devices, comma-separated.")]
    transcriptionWorkers: Annotated[int, Doc("Live transcription workers.")]
    ttsWorkers: Annotated[int, Doc("Live speech-synthesis workers.")]


class ServiceHealth(TypedDict):
    """Service health in the original service's shape."""

    totalSessions: Annotated[int, Doc("Sessions in the database, of any status.")]
    activeSessions: Annotated[int, Doc("Sessions now active.")]
    serviceStatus: ServiceStatus


class Entry(TypedDict):
    """One transcript entry: a student utterance or a spoken reply."""

    id: int
    sequence: Annotated[int, Doc("Its place in the session's transcript, from 1.")]
    role: EntryRole
    text: str
    language: Annotated[str, Doc("The language it was transcribed or spoken in.")]
    audioDuration: Annotated[float, Doc("Seconds of audio.")]
    audioStart: Annotated[float | None, Doc("Where it starts in the session's audio, in seconds.")]
    audioEnd: Annotated[float | None, Doc("Where it ends in the session's audio, in seconds.")]
    latency: Annotated[float | None, Doc("Seconds: final delay (student) or time to first audio (reply).")]
    createdAt: Timestamp


class EntryPage(TypedDict):
    """One page of a session's transcript, in order."""

    sessionId: SessionId
    page: Annotated[int, Doc("This page's number, from 1.")]
    pageSize: Annotated[int, Doc("Entries per page.")]
    count: Annotated[int, Doc("Entries in the whole transcript.")]
    pages: Annotated[int, Doc("Number of pages.")]
    results: Annotated[list[Entry], Doc("This page's entries; empty past the last page.")]


ReadingLanguage = Literal["en", "zh"]  # streaming.core.reading.READING_LANGUAGES


class TextWord(TypedDict):
    """A word of a practice text as the reading is scored (Chinese: a character)."""

    text: Annotated[str, Doc("As written, with the punctuation around it.")]
    offset: Annotated[int, Doc("Where it begins in the text, in characters.")]


class PracticeText(TypedDict):
    """A text to read aloud in a reading-practice session (docs/protocol.md, `connected`)."""

    id: int
    title: str
    language: Annotated[ReadingLanguage, Doc("What it is read in.")]
    text: str
    source: Annotated[str, Doc("Where it comes from; may be empty.")]
    words: Annotated[list[TextWord], Doc("Its words as they are scored; progress and results refer to them by index.")]


class PracticeTextList(TypedDict):
    """The practice texts the caller may read: a student's are those assigned to their classrooms."""

    results: list[PracticeText]


class ReadingAttemptSummary(TypedDict):
    """One reading of a practice text: its figures."""

    id: int
    sessionId: SessionId
    student: Annotated[str, Doc("The reader's username (the session's owner).")]
    textId: Annotated[int, Doc("The practice text read.")]
    textTitle: str
    language: Annotated[ReadingLanguage, Doc("The text's language.")]
    accuracy: Annotated[float, Doc("Share of the text's words read correctly, 0 to 1.", minimum=0, maximum=1)]
    wcpm: Annotated[float, Doc("Words (Chinese: characters) correct per minute of reading time.", minimum=0)]
    duration: Annotated[float, Doc("Reading time in seconds: first word read to last.", minimum=0)]
    createdAt: Timestamp


class ReadingAttempt(ReadingAttemptSummary):
    """One reading of a practice text: its figures and its word-by-word result."""

    results: Annotated[
        dict, Doc("The final `reading_result` data: per-word statuses and times, inserted words, figures.")
    ]


class ReadingAttemptPage(TypedDict):
    """One page of the reading attempts the caller may see, newest first."""

    page: Annotated[int, Doc("This page's number, from 1.")]
    pageSize: Annotated[int, Doc("Attempts per page.")]
    count: Annotated[int, Doc("Attempts matching the filters.")]
    pages: Annotated[int, Doc("Number of pages.")]
    results: Annotated[list[ReadingAttemptSummary], Doc("This page's attempts; empty past the last page.")]
