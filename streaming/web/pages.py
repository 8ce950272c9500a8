"""Server-rendered pages for students: the voice chat and reading practice."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import ensure_csrf_cookie

from reading.selectors import texts_visible_to
from streaming import asr_models
from streaming.core.audio import SAMPLE_RATE
from streaming.models import SessionStatus, StreamingSession
from streaming.selectors import practice_text_dict, session_summary
from streaming.shapes import Session

SESSION_STATUS_NAMES = {"active": _("active"), "closed": _("closed"), "expired": _("expired")}

# Everything the page's JavaScript says to the student, translated on the server.
# `{name}` placeholders are filled in by the script.
UI_TEXT = {
    "you": _("You"),
    "tutor": _("Tutor"),
    "newSession": _("New session"),
    "startSession": _("Start session"),
    "resumeSession": _("Resume session"),
    "languageNames": {"en": "English", "zh": "中文", "auto": _("Automatic")},
    "statusNames": SESSION_STATUS_NAMES,
    "idle": _("Not connected"),
    "connecting": _("Connecting…"),
    "connected": _("Connected"),
    "reconnecting": _("Connection lost. Reconnecting (attempt {attempt})…"),
    "closed": _("Disconnected"),
    "recording": _("Recording"),
    "notRecording": _("Microphone off"),
    "speaking": _("Speaking…"),
    "replyFinished": _("Reply finished"),
    "playbackStopped": _("Playback stopped"),
    "interrupted": _("interrupted"),
    "notSaved": _("not saved: the connection dropped"),
    "micDenied": _(
        "Microphone access was denied. Allow the microphone for this site in your browser's settings, "
        "then press Start talking again."
    ),
    "micMissing": _("No microphone was found. Plug one in and try again."),
    "micBusy": _("The microphone is being used by another program."),
    "micInsecure": _("The microphone only works on a secure (https) address."),
    "micFailed": _("The microphone could not be started: {detail}"),
    "micEnded": _("The microphone was disconnected."),
    "serverFull": _("The service is full right now. Please try again in a few minutes."),
    "tooManySessions": _("You already have too many open sessions. End one of them, then try again."),
    "languageUnsupported": _(
        "Chinese speech recognition is not installed on this server: its speech model understands English "
        "only. Choose English to talk (the page can stay in Chinese)."
    ),
    "languageUnavailable": _(
        "Chinese speech recognition could not be loaded on this server: its model files are damaged. "
        "Ask the person who runs it to reinstall them; choose English to talk meanwhile."
    ),
    "sessionExpired": _("This session has ended. Start a new session to keep talking."),
    "sessionClosed": _("Session ended."),
    "superseded": _("This session was opened in another tab or window."),
    "notAuthenticated": _("You are no longer logged in. Reload the page to log in again."),
    "forbidden": _("You may not use this session."),
    "notFound": _("This session no longer exists."),
    "lag": _("The server is {seconds} s behind; the transcript may arrive late."),
    "audioDropped": _("The connection was down for long; the oldest {seconds} s of speech were not sent."),
    "serverError": _("Server error: {message}"),
    "rateLimited": _("Too much data is being sent; some audio was dropped."),
    "asrFailed": _("Speech recognition failed for a moment; a few words may be missing."),
    "ttsFailed": _("The reply could not be spoken."),
    "responderFailed": _("The tutor could not answer this time."),
    "requestFailed": _("The server could not be reached. Check the network and try again."),
    "ttsFallback": _("No voice for this language is installed; an English voice reads the reply."),
}


# The practice page's own words; it shares the chat page's for the connection, microphone and errors.
PRACTICE_TEXT = {
    **UI_TEXT,
    "listen": _("Listen first"),
    "stopListening": _("Stop listening"),
    "startReading": _("Start reading"),
    "doneReading": _("I'm done"),
    "tryAgain": _("Try again"),
    "reading": _("Reading… {read} of {total} words"),
    "readingZh": _("Reading… {read} of {total} characters"),
    "listening": _("Listening to sentence {sentence} of {sentences}…"),
    "checking": _("Checking your reading…"),
    "ready": _("Press Listen first to hear the text, or Start reading and read it aloud."),
    "finished": _("Well done! Here is how you read."),
    "noTexts": _("No text has been assigned to you yet. Your teacher assigns texts to your class."),
    "statusNames": {
        **SESSION_STATUS_NAMES,
        "correct": _("read correctly"),
        "misread": _("misread"),
        "skipped": _("skipped"),
        "inserted": _("added"),
    },
    "heard": _("heard “{heard}”"),
    "wordsCount": _("{count} words"),
    "charactersCount": _("{count} characters"),
    "wordsPerMinute": _("Words correct per minute"),
    "charactersPerMinute": _("Characters correct per minute"),
    "noPauses": _("none"),
    "nothingRead": _("Nothing has been heard yet: press Start reading and read the text aloud."),
    "pauseAt": _("{seconds} s before “{word}”"),
}


def home(request: HttpRequest) -> HttpResponse:
    return redirect("chat")


def _resumable_sessions(user) -> list[Session]:
    """The student's active sessions the page can stream into (16 kHz input), most recent first."""
    sessions = (
        StreamingSession.objects.filter(owner=user, status=SessionStatus.ACTIVE)
        .select_related("owner")
        .order_by("-last_activity_at")
    )
    return [session_summary(s) for s in sessions if s.options.get("input_sample_rate", SAMPLE_RATE) == SAMPLE_RATE]


@login_required
@ensure_csrf_cookie
def chat(request: HttpRequest) -> HttpResponse:
    config = {
        "apiBase": reverse("streaming:sessions"),
        "sampleRate": SAMPLE_RATE,
        "languages": {code: asr_models.supports(code) for code in ("en", "zh")},
        "sessions": _resumable_sessions(request.user),
        "text": UI_TEXT,
    }
    return render(request, "streaming/chat.html", {"responder": settings.RESPONDER, "chat_config": config})


@login_required
@ensure_csrf_cookie
def practice(request: HttpRequest) -> HttpResponse:
    """The student's texts, one to listen to and read aloud with word-by-word feedback."""
    texts = texts_visible_to(request.user).order_by("language", "title")
    config = {
        "apiBase": reverse("streaming:sessions"),
        "sampleRate": SAMPLE_RATE,
        "languages": {code: asr_models.supports(code) for code in ("en", "zh")},
        "texts": [practice_text_dict(t) for t in texts],
        "text": PRACTICE_TEXT,
    }
    return render(request, "streaming/practice.html", {"practice_config": config})
