"""A spoken reply in progress: its text parts, what has been delivered, and cancellation.

A reply is spoken in parts (a whole `text_request`, or each sentence of a responder answer as
it arrives). Parts go to the TTS workers one at a time so several workers cannot reorder them.
A part whose worker went silent is sent again, less what was heard, under a new worker request
id: whatever the first worker still says is then ignored (docs/decisions/0037).
"""

import time
from dataclasses import dataclass, field

from django.core.cache import cache

from streaming.core.text_split import split_sentences
from streaming.outages import REDIS_DOWN, try_redis

CANCEL_TTL_S = 300


def cancel_key(request_id: str) -> str:
    return f"tts-cancel:{request_id}"


@dataclass
class Reply:
    request_id: str
    language: str
    started_at: float = field(default_factory=time.monotonic)
    first_audio_at: float | None = None
    queued: list[str] = field(default_factory=list)  # parts not yet sent to a worker
    in_flight: bool = False
    part_sentences: list[str] = field(default_factory=list)  # the part in flight, as a worker splits it
    part_heard: int = 0  # how many of them were delivered
    part_retried: bool = False
    attempt: int = 0  # worker requests sent: each part, each retry
    complete: bool = False  # no more parts will be added
    next_sequence: int = 0
    sentences: list[str] = field(default_factory=list)  # delivered to the client
    audio_seconds: float = 0.0

    def next_part(self) -> str | None:
        """The part to send now, if no other is being synthesized."""
        if self.in_flight or not self.queued:
            return None
        part = self.queued.pop(0)
        self.in_flight, self.attempt = True, self.attempt + 1
        self.part_sentences, self.part_heard, self.part_retried = split_sentences(part), 0, False
        return part

    def retry_part(self) -> str:
        """The sentences of the part in flight not yet heard, to be sent again as a new attempt."""
        self.attempt += 1
        self.part_retried = True
        return " ".join(self.part_sentences[self.part_heard :])

    @property
    def worker_request_id(self) -> str:
        """The id of the worker request in flight (the client knows the reply by `request_id`)."""
        return f"{self.request_id}.{self.attempt}"

    @staticmethod
    def id_of(worker_request_id: str) -> str:
        return worker_request_id.partition(".")[0]

    def delivered(self, sentence: str, seconds: float) -> int:
        """Record a delivered sentence; returns its sequence number in the reply."""
        if self.first_audio_at is None:
            self.first_audio_at = time.monotonic()
        self.sentences.append(sentence)
        self.audio_seconds += seconds
        self.next_sequence += 1
        return self.next_sequence - 1

    @property
    def finished(self) -> bool:
        return self.complete and not self.in_flight and not self.queued

    @property
    def delivered_text(self) -> str:
        return " ".join(self.sentences) if self.language.startswith("en") else "".join(self.sentences)

    @property
    def first_audio_latency(self) -> float | None:
        return None if self.first_audio_at is None else self.first_audio_at - self.started_at

    @staticmethod
    async def cancel(request_id: str) -> None:
        """Tell whichever TTS worker holds the request to stop between sentences. In a Redis outage
        it speaks on, and the connection drops what it no longer waits for."""
        await try_redis("cancelling a reply", cache.aset(cancel_key(request_id), True, CANCEL_TTL_S))

    @staticmethod
    def is_cancelled(request_id: str) -> bool:
        try:
            return bool(cache.get(cancel_key(request_id)))
        except REDIS_DOWN:  # speak on: the connection drops what it no longer waits for
            return False
