"""Reading practice over a connection: transcript updates in, `reading_progress` and
`reading_result` out, finished attempts saved.

Which words belong to which attempt is decided by the pure `PracticeReadings`
(streaming/core/practice.py); this part loads the session's text, sends its messages and saves
results through the outage-safe database call.
"""

from reading import services as reading_services
from reading.models import PracticeText
from streaming import selectors
from streaming.core import protocol
from streaming.core.practice import PracticeReadings, Progress, Result
from streaming.core.transcriber import TranscriptUpdate
from streaming.errors import not_found
from streaming.models import StreamingSession
from streaming.outages import call_database
from streaming.realtime.link import Link


def _practice_of(session: StreamingSession) -> tuple[PracticeText, int] | None:
    """The session's practice text and its attempts so far, or None for a plain session."""
    text_id = session.options.get("practice_text_id")
    if text_id is None:
        return None
    text = PracticeText.objects.filter(pk=text_id).first()
    if text is None:
        raise not_found("practice text")  # deleted after the session was created (no attempt yet)
    return text, session.reading_attempts.count()


async def load_practice(session: StreamingSession) -> tuple[PracticeText, int] | None:
    """A practice session's text and the number of its attempts so far; None for a plain session.
    Raises `not_found` when the text was deleted since the session was created."""
    return await call_database("reading the practice text", _practice_of, session)


class Practice:
    """The reading practice of one connection to a practice session."""

    def __init__(self, link: Link, session: StreamingSession, text: PracticeText, attempts_before: int) -> None:
        self.link = link
        self.session = session
        self.text = text
        self.readings = PracticeReadings(text.reference(), attempts_before=attempts_before)

    def described(self) -> dict:
        """The text as `connected` shows it."""
        return dict(selectors.practice_text_dict(self.text))

    async def on_update(self, update: TranscriptUpdate) -> None:
        await self._report(self.readings.on_update(update))

    async def on_command(self, command: str) -> None:
        if command == "reading_restart":
            self.readings.restart()
            return
        result = self.readings.finish()
        if result is None:
            await self.link.send_json(
                protocol.error("nothing_read", "No reading is in progress: nothing was said since the last result.")
            )
            return
        await self._report(result)

    async def _report(self, event: Progress | Result | None) -> None:
        if isinstance(event, Progress):
            await self.link.send_json(protocol.reading_progress(event.attempt, event.reading.as_dict()))
        elif isinstance(event, Result):
            attempt = await call_database(
                "saving a reading attempt", reading_services.create_attempt, self.session, self.text, event.reading
            )
            await self.link.send_json(protocol.reading_result(event.attempt, attempt.results, attempt.pk))
