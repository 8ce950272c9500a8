"""Server-rendered pages for students: the voice chat."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import ensure_csrf_cookie

from streaming import asr_models
from streaming.core.audio import SAMPLE_RATE
from streaming.models import SessionStatus, StreamingSession
from streaming.selectors import session_summary
from streaming.shapes import Session

# Everything the page's JavaScript says to the student, translated on the server.
# `{name}` placeholders are filled in by the script.
UI_TEXT = {
    "you": _("You"),
    "tutor": _("Tutor"),
    "newSession": _("New session"),
    "startSession": _("Start session"),
    "resumeSession": _("Resume session"),
    "languageNames": {"en": "English", "zh": "中文", "auto": _("Automatic")},
    "statusNames": {"active": _("active"), "closed": _("closed"), "expired": _("expired")},
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
