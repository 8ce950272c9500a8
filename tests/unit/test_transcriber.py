"""The per-connection state machine, with the real VAD on real speech and scripted ASR answers."""

from collections.abc import Callable

import numpy as np
import pytest

from streaming.core.stabilizer import words_text
from streaming.core.transcriber import STALL_S, StreamTranscriber, TranscriberConfig
from streaming.core.vad import VadConfig
from tests.speech import jfk_audio, silence

RATE = 16000


def seg(words: list[tuple[float, float, str]]) -> dict:
    """A Whisper-like segment (times relative to the request window)."""
    return {
        "start": words[0][0],
        "end": words[-1][1],
        "text": "".join(w for _, _, w in words),
        "no_speech_prob": 0.01,
        "avg_logprob": -0.2,
        "compression_ratio": 1.2,
        "words": [{"start": s, "end": e, "word": w, "probability": 0.9} for s, e, w in words],
    }


def feed(t: StreamTranscriber, audio: np.ndarray, clock: list[float], step: int = 1600) -> None:
    for i in range(0, len(audio), step):
        clock[0] += step / RATE
        t.feed(audio[i : i + step], clock[0])


def speech_then_silence() -> np.ndarray:
    # "And so my fellow Americans" (0.0-2.5 s of jfk), then a pause that ends the utterance.
    return np.concatenate([silence(0.5), jfk_audio()[: int(2.6 * RATE)], silence(1.2)])


def test_silence_never_requests():
    t = StreamTranscriber(TranscriberConfig())
    clock = [0.0]
    feed(t, silence(5), clock)
    assert t.next_request(clock[0]) is None and not t.in_utterance
    assert t.buffer.duration_s <= 1.01  # idle audio is not hoarded


def test_partial_then_final_with_latencies():
    t = StreamTranscriber(TranscriberConfig(), session_offset_s=100.0, first_utterance_id=7)
    clock = [0.0]
    feed(t, np.concatenate([silence(0.5), jfk_audio()[: int(1.5 * RATE)]]), clock)
    request = t.next_request(clock[0])
    assert request is not None and not request.is_final and request.window_start < 0.7 * RATE
    assert t.next_request(clock[0]) is None  # one in flight
    offset = request.window_start / RATE
    words = [(0.7 - offset, 0.9 - offset, " And"), (0.9 - offset, 1.1 - offset, " so")]
    first = t.on_result(request.request_id, [seg(words)], clock[0] + 0.3)
    assert first.utterance_id == 7 and first.committed == "" and first.tentative == "And so"
    assert first.start >= 100.0 and len(first.word_latencies) == 2
    assert all(0 < latency < 2 for latency in first.word_latencies)
    assert t.on_result(request.request_id, [seg(words)], clock[0]) is None  # stale answer ignored


def test_final_without_extra_decode_when_covered():
    """Two agreeing decodes made during the closing silence already hold the final text."""
    t = StreamTranscriber(TranscriberConfig(vad=VadConfig(min_silence_s=1.2)))
    clock = [0.0]
    audio = np.concatenate([speech_then_silence(), silence(0.8)])
    updates = []
    for i in range(0, len(audio), 1600):
        clock[0] += 0.1
        t.feed(audio[i : i + 1600], clock[0])
        done = t.finish_without_decode(clock[0])
        if done:
            updates.append(done)
        request = t.next_request(clock[0])
        if request is not None:
            assert not request.is_final, "the last partial already covered the speech"
            offset = request.window_start / RATE
            words = [
                (0.7 - offset, 0.9 - offset, " And"),
                (0.9 - offset, 1.1 - offset, " so"),
                (1.2 - offset, 1.6 - offset, " my"),
                (1.6 - offset, 2.0 - offset, " fellow"),
                (2.0 - offset, 2.8 - offset, " Americans."),
            ]
            visible = [w for w in words if w[1] + offset <= request.window_end / RATE]
            if visible:
                updates.append(t.on_result(request.request_id, [seg(visible)], clock[0] + 0.05))
            else:
                updates.append(t.on_result(request.request_id, [], clock[0] + 0.05))
    finals = [u for u in updates if u and u.is_final]
    assert len(finals) == 1
    assert finals[0].committed == "And so my fellow Americans."
    assert finals[0].final_delay is not None and finals[0].final_delay < 1.2 + 0.6  # the silence rule + a step
    assert finals[0].word_latency is not None
    assert not t.in_utterance


FELLOW_AMERICANS = [
    (0.7, 0.9, " And"),
    (0.9, 1.1, " so"),
    (1.2, 1.6, " my"),
    (1.6, 2.0, " fellow"),
    (2.0, 2.7, " Americans."),
]


def answer(t: StreamTranscriber, request, words: list[tuple[float, float, str]], clock: list[float]) -> None:
    """Answer `request` with `words` (absolute times in the connection's audio)."""
    offset = request.window_start / RATE
    t.on_result(request.request_id, [seg([(a - offset, b - offset, w) for a, b, w in words])], clock[0])


def end_after_two_partials(silence_before_second_s: float) -> tuple[StreamTranscriber, list[float], object]:
    """ "And so my fellow" then "And so my fellow Americans." (the last word still tentative), the
    second partial sent after `silence_before_second_s` of the closing pause; then the pause
    ends the utterance. Returns the transcriber, its clock and the second partial."""
    t = StreamTranscriber(TranscriberConfig())
    clock = [0.0]
    feed(t, np.concatenate([silence(0.5), jfk_audio()[: int(1.6 * RATE)]]), clock)
    answer(t, t.next_request(clock[0]), FELLOW_AMERICANS[:4], clock)
    # JFK pauses after "Americans," at 2.2 s.
    feed(t, np.concatenate([jfk_audio()[int(1.6 * RATE) : int(2.2 * RATE)], silence(silence_before_second_s)]), clock)
    second = t.next_request(clock[0])
    answer(t, second, FELLOW_AMERICANS, clock)
    assert t.stabilizer.tentative, "the two hypotheses differ at the end"
    feed(t, silence(1.0), clock)
    assert t.utterance.end is not None
    return t, clock, second


def test_final_without_decode_from_a_partial_that_heard_the_whole_pause_padding():
    """A partial sent 0.35 s into the pause covered the speech and the padding after it: all the
    final decode would hear, so its words are final even where they were still tentative."""
    t, clock, second = end_after_two_partials(0.35)
    assert second.window_end >= t.utterance.end
    settled = t.finish_without_decode(clock[0])
    assert settled is not None and not settled.is_final and settled.committed == "And so my fellow Americans."
    assert settled.tentative == "" and settled.final_delay is not None  # the words are final now
    assert t.next_request(clock[0]) is None and t.in_utterance  # the turn may go on
    feed(t, silence(0.5), clock)  # the silence reaches the turn pause
    final = t.finish_without_decode(clock[0])
    assert final is not None and final.is_final and final.committed == "And so my fellow Americans."
    assert final.utterance_id == settled.utterance_id and final.final_delay == settled.final_delay
    assert not t.in_utterance and t.finish_without_decode(clock[0]) is None


def test_final_decode_when_the_last_partial_stopped_at_the_speech_end():
    """A partial cut where the speech stops may have cut its last word: with words still
    tentative, the whole utterance is decoded again."""
    t, clock, second = end_after_two_partials(0.0)
    assert second.window_end < t.utterance.end
    assert t.finish_without_decode(clock[0]) is None
    final = t.next_request(clock[0])
    assert final is not None and final.is_final


def answer_heard(t: StreamTranscriber, request, words: list[tuple[float, float, str]], clock: list[float]) -> None:
    """Answer `request` with those of `words` its window heard."""
    heard = [w for w in words if w[1] <= request.window_end / RATE]
    if heard:
        answer(t, request, heard, clock)
    else:
        t.on_result(request.request_id, [], clock[0])


def test_a_pause_sends_a_closing_partial_so_the_final_needs_no_decode():
    """Once a pause has lasted the VAD's padding a partial goes, however recent the last one: if
    the pause ends the utterance, that partial heard all a final decode would."""
    t = StreamTranscriber(TranscriberConfig(min_interval_s=5.0, max_interval_s=5.0))  # no timed partial in 3 s
    clock = [0.0]
    audio = np.concatenate([speech_then_silence(), silence(0.5)])
    finals = []
    for i in range(0, len(audio), 1600):
        feed(t, audio[i : i + 1600], clock)
        finals += [f for f in [t.finish_without_decode(clock[0])] if f is not None and f.is_final]
        request = t.next_request(clock[0])
        if request is not None:
            assert not request.is_final, "the closing partial already heard the whole utterance"
            assert t.vad.pause_end is not None and request.window_end >= t.vad.pause_end  # pause start + padding
            answer_heard(t, request, FELLOW_AMERICANS, clock)
    assert [f.committed for f in finals] == ["And so my fellow Americans."]
    assert not t.in_utterance


def test_no_partial_in_the_first_padding_of_a_pause():
    """A partial due at the start of a pause waits until the pause has lasted the padding, so it
    can be the closing partial instead of one that stops at the speech end."""
    t = StreamTranscriber(TranscriberConfig(vad=VadConfig(min_silence_s=5.0)))  # JFK's pauses do not end it
    clock = [0.0]
    audio = np.concatenate([silence(0.5), jfk_audio()])
    in_pause = 0
    for i in range(0, len(audio), 800):
        feed(t, audio[i : i + 800], clock, step=800)
        pause = t.vad.pause_end  # pause start + padding
        request = t.next_request(clock[0])
        if request is not None:
            assert pause is None or request.window_end >= pause
            in_pause += pause is not None
            answer_heard(t, request, FELLOW_AMERICANS, clock)
    assert in_pause >= 2  # JFK pauses after "Americans" and after "your country"


def test_the_closing_partial_does_not_wait_for_a_partial_sent_before_the_pause():
    """Under load a partial sent just before a pause is still in flight when the pause has lasted
    the padding. It cannot end the utterance, so the closing partial goes at once instead of a
    round trip later; the earlier answer still shows its words, and a late one is ignored."""
    t = StreamTranscriber(TranscriberConfig(min_interval_s=1.0, max_interval_s=1.0))
    clock = [0.0]
    feed(t, np.concatenate([silence(0.5), jfk_audio()[: int(2.2 * RATE)]]), clock)  # "... Americans," then a pause
    before = t.next_request(clock[0])
    assert before is not None and t.vad.pause_end is None
    closing = None
    for _ in range(8):  # 0.4 s of the pause, the earlier partial unanswered
        feed(t, silence(0.05), clock, step=800)
        closing = closing or t.next_request(clock[0])
    assert closing is not None and not closing.is_final
    assert closing.closing and not before.closing  # it goes on the channel taken first
    assert closing.window_end >= t.vad.pause_end > before.window_end
    assert [r.request_id for r in t.in_flight] == [before.request_id, closing.request_id]
    assert t.next_request(clock[0]) is None  # never more than two in flight
    shown = t.on_result(before.request_id, [seg(FELLOW_AMERICANS[:4])], clock[0])
    assert shown is not None and shown.tentative == "And so my fellow"
    answer(t, closing, FELLOW_AMERICANS, clock)
    assert t.pending is None and t.on_result(before.request_id, [], clock[0]) is None
    feed(t, silence(0.6), clock)  # the pause ends the utterance
    final = t.finish_without_decode(clock[0])
    assert final is not None and final.committed == "And so my fellow Americans."


def test_a_newer_answer_makes_older_requests_stale():
    """Should the closing partial be answered first (another worker took it), the earlier
    partial's answer is older than what the session shows, and is ignored."""
    t = StreamTranscriber(TranscriberConfig(min_interval_s=1.0, max_interval_s=1.0))
    clock = [0.0]
    feed(t, np.concatenate([silence(0.5), jfk_audio()[: int(2.2 * RATE)]]), clock)
    before = t.next_request(clock[0])
    feed(t, silence(0.4), clock, step=800)
    closing = t.next_request(clock[0])
    assert closing is not None and len(t.in_flight) == 2
    answer(t, closing, FELLOW_AMERICANS, clock)
    assert t.in_flight == [] and t.on_result(before.request_id, [seg(FELLOW_AMERICANS[:2])], clock[0]) is None


def test_is_final_ends_utterance_and_requests_final_decode():
    t = StreamTranscriber(TranscriberConfig())
    clock = [0.0]
    feed(t, np.concatenate([silence(0.5), jfk_audio()[: int(1.0 * RATE)]]), clock)
    t.end_utterance()
    request = t.next_request(clock[0])
    assert request.is_final
    offset = request.window_start / RATE
    final = t.on_result(
        request.request_id, [seg([(0.7 - offset, 0.9 - offset, " And"), (0.9 - offset, 1.2 - offset, " so")])], clock[0]
    )
    assert final.is_final and final.committed == "And so"


def test_final_does_not_wait_for_a_partial_that_falls_short():
    """Under load a partial can still be in flight when the utterance ends; it saw only part of
    the speech, so the final decode goes at once. The partial's answer, coming first, still
    shows its words; once the final is answered, a late one would be ignored."""
    t = StreamTranscriber(TranscriberConfig())
    clock = [0.0]
    feed(t, np.concatenate([silence(0.5), jfk_audio()[: int(1.5 * RATE)]]), clock)
    partial = t.next_request(clock[0])
    assert partial is not None and not partial.is_final
    feed(t, np.concatenate([jfk_audio()[int(1.5 * RATE) : int(2.6 * RATE)], silence(1.2)]), clock)
    final = t.next_request(clock[0])
    assert final is not None and final.is_final and final.window_end > partial.window_end
    assert t.next_request(clock[0]) is None  # and nothing more while the final is in flight
    shown = t.on_result(partial.request_id, [seg([(0.2, 0.4, " And")])], clock[0])
    assert shown is not None and not shown.is_final and shown.tentative == "And"
    assert t.finish_without_decode(clock[0]) is None and t.next_request(clock[0]) is None  # the final decides
    offset = final.window_start / RATE
    words = [
        (0.7 - offset, 0.9 - offset, " And"),
        (0.9 - offset, 1.1 - offset, " so"),
        (1.2 - offset, 1.6 - offset, " my"),
    ]
    done = t.on_result(final.request_id, [seg(words)], clock[0] + 0.3)
    assert done.is_final and done.committed == "And so my" and not t.in_utterance


def test_final_waits_for_a_partial_that_covers_the_speech():
    """A partial sent during the closing silence may finish the utterance without a decode."""
    t = StreamTranscriber(TranscriberConfig(vad=VadConfig(min_silence_s=1.2)))
    clock = [0.0]
    feed(t, np.concatenate([silence(0.5), jfk_audio()[: int(2.6 * RATE)], silence(0.5)]), clock)
    partial = t.next_request(clock[0])
    assert partial is not None and not partial.is_final
    feed(t, silence(1.0), clock)
    assert t.utterance.end is not None and t.next_request(clock[0]) is None


def test_the_update_interval_follows_the_round_trip():
    """Partials go `interval_per_round_trip` smoothed round trips apart (within the shortest and
    longest interval), so a loaded server keeps some idle time; a round trip longer than the
    shortest interval is the lag signal that makes workers decode cheaply."""
    t = StreamTranscriber(TranscriberConfig(interval_per_round_trip=1.5, vad=VadConfig(min_silence_s=5.0)))
    clock = [0.0]
    audio = np.concatenate([silence(0.5), jfk_audio()])

    def run(seconds: float, round_trip: float) -> list:
        requests = []
        for _ in range(int(seconds * 10)):
            start = int(clock[0] * RATE)
            feed(t, audio[start : start + 1600], clock)
            request = t.next_request(clock[0])
            if request is not None:
                requests.append(request)
                t.on_result(request.request_id, [], request.sent_at + round_trip)
        return requests

    assert len(run(3.0, 0.2)) >= 5 and t.interval_s == 0.5  # the shortest interval holds
    requests = run(3.0, 0.4)
    assert abs(t.interval_s - 0.6) < 0.02 and not requests[-1].behind
    requests = run(4.0, 0.8)
    assert abs(t.interval_s - 1.2) < 0.05 and requests[-1].behind
    assert len(requests) <= 5  # 0.5 s apart they would have been 8


def test_retry_and_abandon():
    t = StreamTranscriber(TranscriberConfig())
    clock = [0.0]
    feed(t, np.concatenate([silence(0.5), jfk_audio()[: int(1.0 * RATE)]]), clock)
    first = t.next_request(clock[0])
    again = t.retry(clock[0])
    assert again.request_id != first.request_id and np.array_equal(again.audio, first.audio)
    assert t.on_result(first.request_id, [], clock[0]) is None  # the timed-out id is stale now
    assert t.abandon(clock[0]) is None  # a partial: nothing is settled
    assert t.pending is None


def test_interrupted_keeps_committed_text():
    t = StreamTranscriber(TranscriberConfig(vad=VadConfig(min_silence_s=5.0)))  # JFK's pauses do not end it
    clock = [0.0]
    feed(t, np.concatenate([silence(0.5), jfk_audio()[: int(2.6 * RATE)]]), clock)
    words = [(0.7, 0.9, " And"), (0.9, 1.1, " so")]
    for _ in range(2):  # two agreeing hypotheses commit the words
        request = t.next_request(clock[0]) or t.retry(clock[0])
        shifted = [(s - request.window_start / RATE, e - request.window_start / RATE, w) for s, e, w in words]
        t.on_result(request.request_id, [seg(shifted)], clock[0])
        feed(t, jfk_audio()[int(2.6 * RATE) : int(3.2 * RATE)], clock)
    assert t.stabilizer.committed
    update = t.interrupted(clock[0])
    assert update.is_final and update.committed == "And so"
    assert not t.in_utterance


def test_short_windows_show_words_but_never_commit_them():
    """Whisper misreads the start of a short window, and two short windows can agree on the
    misreading: under MIN_AGREEMENT_WINDOW_S nothing commits. A connection that ends then still
    keeps the words it showed."""
    t = StreamTranscriber(TranscriberConfig())
    clock = [0.0]
    feed(t, np.concatenate([silence(0.5), jfk_audio()[: int(1.0 * RATE)]]), clock)
    for _ in range(2):
        request = t.next_request(clock[0]) or t.retry(clock[0])
        assert request.window_end - request.window_start < 2.0 * RATE
        answer(t, request, FELLOW_AMERICANS[:2], clock)
        feed(t, jfk_audio()[int(1.0 * RATE) : int(1.5 * RATE)], clock)
    assert not t.stabilizer.committed and words_text(t.stabilizer.tentative) == "And so"
    update = t.interrupted(clock[0])
    assert update.is_final and update.committed == "And so"


def test_long_speech_keeps_window_and_buffer_bounded():
    """Three minutes of speech whose pauses do not end the utterance (5 s silence rule): the window
    is trimmed at committed words, so the buffer stays small, and every word comes out once."""
    config = TranscriberConfig(max_window_s=6.0, force_split_s=20.0, vad=VadConfig(min_silence_s=5.0))
    t = StreamTranscriber(config)
    clock = [0.0]
    sizes, windows = [], []
    for _ in range(18):  # 18 x 11 s of JFK
        for i in range(0, len(jfk_audio()), 1600):
            clock[0] += 0.1
            t.feed(jfk_audio()[i : i + 1600], clock[0])
            request = t.next_request(clock[0])
            if request is None:
                continue
            windows.append(len(request.audio) / RATE)
            start_s = request.window_start / RATE
            # A steady speaker: a word every 0.5 s of session time, recognised identically each time.
            first = int(np.ceil(start_s * 2))
            last = int(request.window_end / RATE * 2) - 1
            words = [(k / 2 - start_s, k / 2 + 0.4 - start_s, f" w{k}") for k in range(first, last)]
            t.on_result(request.request_id, [seg(words)] if words else [], clock[0])
            sizes.append(t.buffer.duration_s)
    assert max(windows) <= 8.0 and max(sizes) <= 8.0  # max_window_s plus one update of audio
    indices = [int(w.text.strip()[1:]) for w in t.stabilizer.committed]
    assert indices == list(range(indices[0], indices[0] + len(indices)))  # no word lost or doubled at seams
    assert len(indices) > 18 * 11 * 2 - 10  # almost three minutes of words committed


def test_is_final_reaches_speech_queued_behind_a_pending_final():
    """Audio arrives faster than decodes: utterance 2 is queued while 1 awaits its final decode,
    then the client ends the stream with `is_final` — utterance 2 must still finish."""
    t = StreamTranscriber(TranscriberConfig())
    clock = [0.0]
    first = t.next_request(clock[0])
    assert first is None
    # "And so my fellow Americans" [pause] "ask not" — fed at once, no decode in between.
    feed(t, np.concatenate([silence(0.5), jfk_audio()[: int(4.4 * RATE)]]), clock)
    finals = []
    t.end_utterance()
    for _ in range(6):
        request = t.next_request(clock[0])
        if request is None:
            break
        offset = request.window_start / RATE
        heard = len(request.audio) / RATE  # a word at the end of each window: the new speech
        update = t.on_result(
            request.request_id, [seg([(heard - 0.3, heard - 0.1, f" u{request.window_start}")])], clock[0]
        )
        assert offset >= 0
        if update and update.is_final:
            finals.append(update)
    # JFK's pause after "Americans" is shorter than the turn pause: one turn of two phrases.
    assert len(finals) == 1 and len(finals[0].committed.split()) == 2 and not t.in_utterance


# --- turns -----------------------------------------------------------------------------------


def ask_not(pause_s: float) -> list[tuple[float, float, str]]:
    """The second phrase's words in `two_phrases(pause_s)` (absolute times)."""
    start = 2.7 + pause_s
    return [(start, start + 0.3, " ask"), (start + 0.3, start + 0.8, " not.")]


def run_scripted(
    t: StreamTranscriber,
    audio: np.ndarray,
    words: list[tuple[float, float, str]],
    on_step: Callable[[int, list], None] | None = None,
) -> list:
    """Stream `audio` in 100 ms steps; every request is answered at once with the words inside
    its window. All updates; `on_step(sample, updates of that step)` after each step."""
    clock, updates = [0.0], []
    for i in range(0, len(audio), 1600):
        step = []
        feed(t, audio[i : i + 1600], clock)
        while (done := t.finish_without_decode(clock[0])) is not None:
            step.append(done)
        request = t.next_request(clock[0])
        if request is not None:
            start, end = request.window_start / RATE, request.window_end / RATE
            heard = [(a - start, b - start, w) for a, b, w in words if a >= start - 0.05 and b <= end]
            step.append(t.on_result(request.request_id, [seg(heard)] if heard else [], clock[0] + 0.05))
        step = [u for u in step if u is not None]
        if on_step is not None:
            on_step(i, step)
        updates += step
    return updates


def two_phrases(pause_s: float) -> np.ndarray:
    """ "And so my fellow Americans" (its speech ends at 2.7 s), `pause_s` of silence, "ask not"."""
    ask_not_audio = jfk_audio()[int(3.1 * RATE) : int(4.5 * RATE)]  # its speech starts 0.23 s in
    return np.concatenate(
        [silence(0.5), jfk_audio()[: int(2.3 * RATE)], silence(pause_s - 0.33), ask_not_audio, silence(2.0)]
    )


def test_a_pause_shorter_than_the_turn_pause_keeps_one_utterance():
    """The first phrase's words become final at its pause (a non-final update, nothing
    tentative, with its final delay); the second continues the same utterance; one final holds
    both, once the silence has lasted the turn pause."""
    t = StreamTranscriber(TranscriberConfig())
    updates = run_scripted(t, two_phrases(0.9), FELLOW_AMERICANS + ask_not(0.9))
    assert {u.utterance_id for u in updates} == {1}
    settled = [u for u in updates if not u.is_final and u.final_delay is not None]
    assert settled[0].committed == "And so my fellow Americans." and settled[0].tentative == ""
    finals = [u for u in updates if u.is_final]
    assert [f.committed for f in finals] == ["And so my fellow Americans. ask not."]
    committed = [u.committed for u in updates]
    assert all(b.startswith(a) for a, b in zip(committed, committed[1:], strict=False))  # never revised
    assert finals[0].final_delay is not None and finals[0].final_delay < 1.0  # when its words were final
    assert not t.in_utterance


def test_the_next_phrase_of_a_turn_is_decoded_without_the_earlier_ones():
    """Its window starts at its own speech and its prompt holds no earlier text: the audio and
    the text of the phrases before it were both measured worse (docs/decisions/0029)."""
    t = StreamTranscriber(TranscriberConfig())
    requests = []
    next_request = t.next_request

    def spy(now: float):
        request = next_request(now)
        if request is not None:
            requests.append(request)
        return request

    t.next_request = spy  # type: ignore[method-assign]
    run_scripted(t, two_phrases(0.9), FELLOW_AMERICANS + ask_not(0.9))
    second = [r for r in requests if r.window_end > 3.7 * RATE]
    assert second and all(r.window_start >= 3.0 * RATE for r in second)
    assert all(r.prompt == "" for r in requests)


def test_a_long_pause_ends_the_utterance():
    t = StreamTranscriber(TranscriberConfig())
    late_ask_not = [(5.0, 5.3, " ask"), (5.3, 5.7, " not.")]  # the VAD hears it start late after a long pause
    updates = run_scripted(t, two_phrases(1.8), FELLOW_AMERICANS + late_ask_not)
    finals = [u for u in updates if u.is_final]
    assert [(f.utterance_id, f.committed) for f in finals] == [(1, "And so my fellow Americans."), (2, "ask not.")]


def test_a_turn_whose_guesses_were_not_speech_ends_with_an_empty_final():
    """Partials showed a guess; the final decode hears nothing: the final still comes, empty,
    so the page clears the guess. A turn that showed nothing ends silently."""
    t = StreamTranscriber(TranscriberConfig())
    clock = [0.0]
    feed(t, np.concatenate([silence(0.5), jfk_audio()[: int(1.0 * RATE)]]), clock)
    request = t.next_request(clock[0])
    shown = t.on_result(request.request_id, [seg([(0.2, 0.5, " Hmm")])], clock[0])
    assert shown.tentative == "Hmm"
    t.end_utterance()
    final_request = t.next_request(clock[0])
    final = t.on_result(final_request.request_id, [], clock[0])
    assert final is not None and final.is_final and final.committed == "" and final.utterance_id == 1

    quiet = StreamTranscriber(TranscriberConfig())
    feed(quiet, np.concatenate([silence(0.5), jfk_audio()[: int(1.0 * RATE)]]), clock)
    request = quiet.next_request(clock[0])
    assert quiet.on_result(request.request_id, [], clock[0]).tentative == ""
    quiet.end_utterance()
    assert quiet.on_result(quiet.next_request(clock[0]).request_id, [], clock[0]) is None


def test_an_abandoned_final_decode_still_ends_the_phrase_with_its_words():
    t = StreamTranscriber(TranscriberConfig())
    clock = [0.0]
    feed(t, np.concatenate([silence(0.5), jfk_audio()[: int(1.5 * RATE)]]), clock)
    answer(t, t.next_request(clock[0]), FELLOW_AMERICANS[:2], clock)
    t.end_utterance()
    assert t.next_request(clock[0]).is_final
    final = t.abandon(clock[0])  # the retry timed out too
    assert final is not None and final.is_final and final.committed == "And so"


def test_reset_ends_the_turn_with_its_settled_phrases_only():
    t = StreamTranscriber(TranscriberConfig())
    audio = two_phrases(0.9)
    updates = run_scripted(t, audio[: int(4.3 * RATE)], FELLOW_AMERICANS + ask_not(0.9))  # into "not"
    assert updates[-1].utterance_id == 1 and t.utterance is not None
    final = t.reset(4.4)
    assert final is not None and final.is_final and final.committed == "And so my fellow Americans."
    assert not t.in_utterance and t.reset(4.5) is None


def test_updates_carry_their_words_in_the_session_timeline():
    """Reading practice aligns the words, not the text: every update carries them, committed and
    tentative, timed in the session's audio (the connection's plus the audio before it)."""
    t = StreamTranscriber(TranscriberConfig(), session_offset_s=100.0)
    updates = run_scripted(t, two_phrases(0.9), FELLOW_AMERICANS + ask_not(0.9))
    for u in updates:
        assert words_text(u.words) == u.committed
        assert words_text(u.tentative_words) == u.tentative
    final = next(u for u in updates if u.is_final)
    expected = [t for a, b, _ in FELLOW_AMERICANS + ask_not(0.9) for t in (100 + a, 100 + b)]
    assert [t for w in final.words for t in (w.start, w.end)] == pytest.approx(expected, abs=0.02)
    assert any(u.tentative_words for u in updates)


def test_a_decode_that_stops_short_cuts_the_window_at_its_committed_words():
    """Whisper stops early where a phrase switches language: every decode of JFK's first 5.5 s
    (one phrase under a 5 s silence rule) writes only "And so my fellow Americans." (to 2.7 s).
    Once a decode heard STALL_S of speech past its last word, the window is cut at the committed
    words (less the overlap), so later decodes start past the place the model stopped."""
    t = StreamTranscriber(TranscriberConfig(vad=VadConfig(min_silence_s=5.0)))
    clock = [0.0]
    audio = np.concatenate([silence(0.5), jfk_audio()[: int(5.5 * RATE)]])
    windows = []
    for i in range(0, len(audio), 1600):
        clock[0] += 0.1
        t.feed(audio[i : i + 1600], clock[0])
        request = t.next_request(clock[0])
        if request is not None:
            windows.append((request.window_start / RATE, request.window_end / RATE))
            answer_heard(t, request, FELLOW_AMERICANS, clock)
    assert words_text(t.stabilizer.committed) == "And so my fellow Americans."
    cut = 2.7 - TranscriberConfig().overlap_s
    stalled = [end - 2.7 >= STALL_S for _, end in windows]
    assert any(stalled) and not all(stalled)
    first_stall = stalled.index(True)
    assert all(start < cut for start, _ in windows[: first_stall + 1])  # the whole phrase until then
    assert all(start == pytest.approx(cut) for start, _ in windows[first_stall + 1 :])


def test_a_stalled_partial_whose_window_cannot_move_leaves_the_phrase_a_final_decode():
    """After the cut the decodes still write nothing past the committed words, so the window,
    which already starts at them, cannot be cut again: their answers cover nothing past those
    words, and the phrase ends with a final decode instead of settling on them, however late in
    its closing pause the last partial went (Mandarin after a few English words was still lost
    this way, about one run in five: docs/decisions/0047)."""
    t = StreamTranscriber(TranscriberConfig(vad=VadConfig(min_silence_s=5.0)))
    clock = [0.0]
    audio = np.concatenate([silence(0.5), jfk_audio()[: int(5.5 * RATE)], silence(5.5)])
    kinds = []
    for i in range(0, len(audio), 1600):
        clock[0] += 0.1
        t.feed(audio[i : i + 1600], clock[0])
        t.finish_without_decode(clock[0])
        request = t.next_request(clock[0])
        if request is not None:
            kinds.append((request.window_start / RATE, request.is_final))
            answer_heard(t, request, FELLOW_AMERICANS, clock)
    cut = 2.7 - TranscriberConfig().overlap_s
    assert (pytest.approx(cut), True) in kinds  # the window could not move, and the phrase got its final decode
    assert t.utterance is None


def test_a_final_decode_that_stops_short_is_followed_by_one_for_the_rest():
    """The phrase ends while the decodes wrote only its first words: the final decode that stops
    2 s short shows its words (not final) and a final decode of the rest follows, whose words
    end the phrase (JFK's pause after "Americans" ends no phrase under a 5 s silence rule)."""
    t = StreamTranscriber(TranscriberConfig(vad=VadConfig(min_silence_s=5.0)))
    clock = [0.0]
    feed(t, np.concatenate([silence(0.5), jfk_audio()[: int(4.4 * RATE)]]), clock)  # no partials asked
    t.end_utterance()
    final = t.next_request(clock[0])
    assert final.is_final and final.window_start / RATE < 0.7
    offset = final.window_start / RATE
    shown = t.on_result(final.request_id, [seg([(a - offset, b - offset, w) for a, b, w in FELLOW_AMERICANS])], 4.9)
    assert shown is not None and not shown.is_final and shown.committed == "And so my fellow Americans."
    assert t.finish_without_decode(clock[0]) is None  # the rest is not settled undecoded
    rest = t.next_request(clock[0])
    assert rest.is_final and rest.window_start / RATE == pytest.approx(2.7 - TranscriberConfig().overlap_s)
    ended = t.on_result(
        rest.request_id, [seg([(0.0, 0.5, " Americans."), (1.1, 1.4, " ask"), (1.4, 1.8, " not")])], 5.9
    )
    assert ended is not None and ended.is_final and ended.committed == "And so my fellow Americans. ask not"
    assert t.utterance is None and not t.in_utterance  # the client's is_final ended phrase and turn
