"""Utterance segmenting with scripted VAD events: boundaries, the queue behind a final, the window."""

import numpy as np

from streaming.core.audio_buffer import AudioBuffer
from streaming.core.utterances import UtteranceSegmenter
from streaming.core.vad import SpeechEnd, SpeechStart, VadConfig

RATE = 16000


class ScriptedVad:
    """Returns the events given for each feed, in order."""

    def __init__(self, *events: list) -> None:
        self.config = VadConfig(speech_pad_s=0.2)
        self.events = list(events)
        self.in_speech = False
        self.pause_end = None

    def feed(self, samples: np.ndarray) -> list:
        return self.events.pop(0) if self.events else []

    def reset(self) -> None:
        self.in_speech = False


def segmenter(vad: ScriptedVad, **kw) -> UtteranceSegmenter:
    settings = dict(force_split_s=25.0, max_window_s=12.0, overlap_s=0.5) | kw
    return UtteranceSegmenter(AudioBuffer(10 * 1024 * 1024, RATE), vad, **settings)


def second() -> np.ndarray:
    return np.zeros(RATE, np.float32)


def test_idle_audio_is_trimmed_and_speech_opens_an_utterance():
    s = segmenter(ScriptedVad([], [], [SpeechStart(int(2.5 * RATE))], [SpeechEnd(int(3.5 * RATE))]))
    assert s.feed(second()) is None and s.feed(second()) is None
    assert s.buffer.duration_s == 1.0  # IDLE_KEEP_S
    started = s.feed(second())
    assert started is s.utterance and started.start == int(2.5 * RATE) and s.window_start == started.start
    s.feed(second())
    assert s.utterance.end == int(3.5 * RATE)
    assert s.speech_end == int(3.3 * RATE)  # less the padding


def test_speech_heard_while_an_utterance_awaits_its_final_waits_for_it():
    s = segmenter(ScriptedVad([SpeechStart(0), SpeechEnd(RATE // 2)], [SpeechStart(RATE + 100)]))
    first = s.feed(second())
    assert first.end == RATE // 2
    assert s.feed(second()) is None  # queued
    s.end_utterance()  # ends the queued speech, not the ended utterance
    started = s.finish()
    assert started.start == RATE + 100 and started.end == 2 * RATE
    assert s.buffer.start_sample == RATE // 2  # the first one's audio is gone


def test_a_forced_split_continues_the_speech_as_the_next_utterance():
    vad = ScriptedVad([SpeechStart(0)])
    s = segmenter(vad, force_split_s=2.5)
    s.feed(second())
    vad.in_speech = True
    s.feed(second())
    s.feed(second())
    assert s.utterance.end == 3 * RATE
    assert s.finish().start == 3 * RATE


def test_the_window_is_cut_at_committed_words_once_it_is_long():
    s = segmenter(ScriptedVad([SpeechStart(0)]), max_window_s=2.0)
    s.feed(second())
    s.feed(second())
    s.trim_window(committed_end_s=1.5)
    assert s.window_start == 0  # not long yet
    s.feed(second())
    s.trim_window(committed_end_s=None)
    assert s.window_start == 0  # nothing committed to cut at
    s.trim_window(committed_end_s=1.5)
    start, audio = s.window(int(2.5 * RATE))
    assert start == s.window_start == RATE and len(audio) == int(1.5 * RATE)
