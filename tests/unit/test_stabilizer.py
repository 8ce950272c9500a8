"""LocalAgreement-2 stabilizer: hand-built hypotheses, then a streaming run on real speech."""

import pytest

from streaming.core.stabilizer import (
    LocalAgreementStabilizer,
    Segment,
    SegmentFilter,
    Word,
    normalize,
    remove_repeat_loops,
    words_text,
)
from tests.speech import JFK_PATH, JFK_STREAMING_MARGIN, JFK_TEXT, normalise, wer


def make_words(text: str, start: float = 0.0, step: float = 0.5, sep: str = " ") -> list[Word]:
    """One word per token, `step` seconds apart, each lasting 0.4 s (Whisper's leading space)."""
    tokens = text.split()
    return [Word(start + i * step, start + i * step + 0.4, f"{sep}{t}") for i, t in enumerate(tokens)]


def seg(words: list[Word], **quality: float) -> Segment:
    scores = {"no_speech_prob": 0.05, "avg_logprob": -0.3, "compression_ratio": 1.4} | quality
    return Segment(words[0].start, words[-1].end, words_text(words), words=tuple(words), **scores)


def texts(words) -> list[str]:
    return [normalize(w.text) for w in words]


# --- LocalAgreement ------------------------------------------------------------------------


def test_first_hypothesis_is_all_tentative():
    stab = LocalAgreementStabilizer()
    update = stab.update([seg(make_words("and so my"))])
    assert update.committed == ()
    assert texts(update.tentative) == ["and", "so", "my"]
    assert stab.committed == () and stab.committed_end == 0.0


def test_commits_longest_common_prefix_of_two_hypotheses():
    stab = LocalAgreementStabilizer()
    stab.update([seg(make_words("and so am I"))])
    update = stab.update([seg(make_words("and so my fellow"))])
    assert texts(update.committed) == ["and", "so"]
    assert texts(update.tentative) == ["my", "fellow"]
    assert stab.committed == update.committed
    assert stab.committed_end == pytest.approx(0.9)


def test_agreement_ignores_case_and_punctuation_and_keeps_the_newer_words():
    stab = LocalAgreementStabilizer()
    stab.update([seg(make_words("And so,"))])
    newer = make_words("and so my", start=0.02)
    update = stab.update([seg(newer)])
    assert update.committed == tuple(newer[:2])


def test_committed_words_are_never_revised():
    stab = LocalAgreementStabilizer()
    hypotheses = [
        "ask not what",
        "ask not what your",
        "task knot what your country",  # a revision of committed words must not change them
        "ask not what your country can",
        "ask not what your country can do",
    ]
    history = []
    for text in hypotheses:
        stab.update([seg(make_words(text))])
        assert stab.committed[: len(history)] == tuple(history)
        history = list(stab.committed)
    assert words_text(stab.committed) == "ask not what your country can"
    assert texts(stab.tentative) == ["do"]


def test_each_update_reports_only_the_newly_committed_words():
    stab = LocalAgreementStabilizer()
    stab.update([seg(make_words("ask not"))])
    first = stab.update([seg(make_words("ask not what"))])
    second = stab.update([seg(make_words("ask not what your"))])
    assert texts(first.committed) == ["ask", "not"]
    assert texts(second.committed) == ["what"]
    assert stab.committed == first.committed + second.committed


# --- window seams --------------------------------------------------------------------------


def committed_through_fellow() -> LocalAgreementStabilizer:
    """Committed "and so my fellow" (ends at 1.9 s): the caller then trims the window to 1.4 s."""
    stab = LocalAgreementStabilizer()
    for _ in range(2):
        stab.update([seg(make_words("and so my fellow"))])
    assert words_text(stab.committed) == "and so my fellow"
    return stab


def test_context_before_the_commit_point_is_dropped_by_time():
    stab = committed_through_fellow()
    # The trimmed window re-decodes its context differently ("by" for "my"): dropped by time.
    redecoded = make_words("by", start=1.0) + make_words("americans ask", start=2.0)
    update = stab.update([seg(redecoded)])
    assert texts(update.tentative) == ["americans", "ask"]


def test_context_with_drifted_timestamps_is_dropped_as_the_committed_tail():
    stab = committed_through_fellow()
    # "my fellow" re-decoded 0.3 s late survives the time cut; it repeats the committed tail.
    redecoded = make_words("my fellow americans ask", start=1.3)
    stab.update([seg(redecoded)])
    update = stab.update([seg(redecoded)])
    assert texts(update.committed) == ["americans", "ask"]
    assert words_text(stab.committed) == "and so my fellow americans ask"


def test_a_long_word_redecoded_with_an_earlier_start_is_not_repeated():
    stab = LocalAgreementStabilizer()
    late_ask = [Word(0.0, 0.4, " Americans"), Word(3.4, 3.74, " ask")]
    stab.update([seg(late_ask)])
    stab.update([seg(late_ask)])
    # Whisper now times "ask" from 2.3 s: it starts far before the commit point, ends after it.
    update = stab.update([seg([Word(0.0, 0.4, " Americans"), Word(2.3, 3.86, " ask"), Word(3.9, 4.5, " not")])])
    assert texts(update.tentative) == ["not"]


def test_a_word_repeated_after_a_pause_is_new_speech():
    stab = LocalAgreementStabilizer()
    for _ in range(2):
        stab.update([seg(make_words("no"))])
    repeated = make_words("no more", start=3.0)
    stab.update([seg(repeated)])
    update = stab.update([seg(repeated)])
    assert words_text(stab.committed) == "no no more"
    assert update.committed == tuple(repeated)


def test_seam_words_come_out_exactly_once_across_a_trim():
    stab = LocalAgreementStabilizer()
    sentence = ["ask", "not", "what", "your", "country", "can", "do", "for", "you"]
    spoken = {w: i * 0.5 for i, w in enumerate(sentence)}
    window_start = 0.0
    for heard in range(3, len(sentence) + 1):
        words = [Word(spoken[w] + 0.05, spoken[w] + 0.45, f" {w}") for w in sentence[:heard]]
        stab.update([seg([w for w in words if w.start >= window_start])])
        if stab.committed:
            window_start = stab.committed_end - 0.5
    stab.finalize()
    assert words_text(stab.committed) == " ".join(sentence)


# --- finalize, prompt, reset ---------------------------------------------------------------


def test_finalize_with_the_last_decode_commits_all_of_it():
    stab = LocalAgreementStabilizer()
    stab.update([seg(make_words("ask not what"))])
    newly = stab.finalize([seg(make_words("ask not what your country"))])
    assert texts(newly) == ["ask", "not", "what", "your", "country"]
    assert stab.committed == newly and stab.tentative == ()


def test_finalize_without_segments_commits_the_previous_tentative_words():
    stab = LocalAgreementStabilizer()
    stab.update([seg(make_words("ask not"))])
    stab.update([seg(make_words("ask not what your"))])
    newly = stab.finalize()
    assert texts(newly) == ["what", "your"]
    assert words_text(stab.committed) == "ask not what your"
    assert stab.finalize() == ()


def test_prompt_is_the_committed_tail_cut_at_a_word_boundary():
    stab = LocalAgreementStabilizer()
    assert stab.prompt() == ""
    words = make_words(" ".join(f"word{i}" for i in range(60)))
    stab.finalize([seg(words)])
    prompt = stab.prompt(max_chars=50)
    assert len(prompt) <= 50
    assert prompt.endswith("word59")
    assert prompt.split()[0] in {w.text.strip() for w in words}
    assert words_text(stab.committed).endswith(prompt)
    assert stab.prompt(max_chars=10_000) == words_text(stab.committed)


def test_prompt_before_the_window_start_leaves_out_the_windows_own_words():
    stab = LocalAgreementStabilizer()
    stab.finalize([seg(make_words("ask not what your country"))])  # words start at 0.0, 0.5, ... 2.0
    assert stab.prompt(before=1.2) == "ask not what"  # "what" (1.0-1.4) straddles the cut: trimmed audio
    assert stab.prompt(before=0.0) == ""
    assert stab.prompt(before=99.0) == stab.prompt()


def test_reset_forgets_everything():
    stab = LocalAgreementStabilizer()
    stab.update([seg(make_words("ask not"))])
    stab.update([seg(make_words("ask not what"))])
    stab.reset()
    assert (stab.committed, stab.tentative, stab.committed_end, stab.prompt()) == ((), (), 0.0, "")


# --- hallucination filters -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("quality", "accepted"),
    [
        ({}, True),
        ({"no_speech_prob": 0.9, "avg_logprob": -1.2}, False),  # silence rule
        ({"no_speech_prob": 0.9, "avg_logprob": -0.4}, True),  # confident text despite silence odds
        ({"no_speech_prob": 0.3, "avg_logprob": -1.2}, True),  # unsure but speech
        ({"compression_ratio": 2.6}, False),  # repetitive text
        ({"avg_logprob": -1.6}, False),  # far below the log-probability threshold
        ({"avg_logprob": -1.4}, True),
    ],
)
def test_segment_filter_rules(quality, accepted):
    assert SegmentFilter().accepts(seg(make_words("thank you"), **quality)) is accepted


@pytest.mark.parametrize(("probability", "accepted"), [(0.03, False), (0.9, True)])
def test_improbable_words_over_likely_silence_are_rejected(probability, accepted):
    # What tiny.en writes over 3 s of silence: avg_logprob passes, the word is a hallucination.
    you = [Word(0.0, 1.52, " You", probability)]
    quiet = seg(you, no_speech_prob=0.95, avg_logprob=-0.98, compression_ratio=0.27)
    assert SegmentFilter().accepts(quiet) is accepted
    assert SegmentFilter().accepts(seg(you, no_speech_prob=0.1, avg_logprob=-0.98)) is True


def test_stabilizer_ignores_rejected_segments():
    stab = LocalAgreementStabilizer()
    decode = [
        seg(make_words("ask not")),
        seg(make_words("thank you", start=5.0), no_speech_prob=0.95, avg_logprob=-1.5),
    ]
    stab.update(decode)
    update = stab.update(decode)
    assert texts(update.committed) == ["ask", "not"] and update.tentative == ()


def test_repeat_loops_are_cut_back_to_max_repeats():
    words = make_words("so thank you. Thank you thank, you thank you and bye")
    assert words_text(remove_repeat_loops(words)) == "so thank you. Thank you and bye"
    assert words_text(remove_repeat_loops(make_words("ha ha ha ha ha"), max_repeats=1)) == "ha"


def test_long_ngram_loops_are_cut_and_short_repeats_are_kept():
    loop = "one two three four five six seven eight"
    cut = remove_repeat_loops(make_words(" ".join([loop] * 4)))
    assert words_text(cut) == f"{loop} {loop}"
    assert words_text(remove_repeat_loops(make_words("no no"))) == "no no"
    nine = "a b c d e f g h i"
    assert words_text(remove_repeat_loops(make_words(" ".join([nine] * 3)))) == " ".join([nine] * 3)


def test_stabilizer_removes_repeat_loops():
    stab = LocalAgreementStabilizer()
    newly = stab.finalize([seg(make_words("bye bye bye bye bye"))])
    assert texts(newly) == ["bye", "bye"]


# --- other scripts and parsing -------------------------------------------------------------


def test_normalisation_keeps_cjk_and_lone_punctuation():
    assert normalize(" Ask,") == "ask"
    assert normalize("你好。") == "你好"
    assert normalize("，") == "，"
    assert normalize("，") != normalize("。")


def test_cjk_words_agree_and_commit():
    stab = LocalAgreementStabilizer()
    stab.update([seg(make_words("我 爱 学习", sep=""))])
    update = stab.update([seg(make_words("我 爱 学伴 ，", sep=""))])
    assert words_text(update.committed) == "我爱"
    assert words_text(stab.finalize()) == "学伴，"
    assert words_text(stab.committed) == "我爱学伴，"


def test_segment_from_dict_makes_times_absolute():
    d = {
        "start": 0.5,
        "end": 1.5,
        "text": " Ask not",
        "no_speech_prob": 0.1,
        "avg_logprob": -0.2,
        "compression_ratio": 1.1,
        "words": [
            {"start": 0.5, "end": 0.9, "word": " Ask", "probability": 0.8},
            {"start": 1.0, "end": 1.5, "word": " not", "probability": 0.9},
        ],
    }
    parsed = Segment.from_dict(d, offset=10.0)
    assert (parsed.start, parsed.end) == (10.5, 11.5)
    assert parsed.words == (Word(10.5, 10.9, " Ask", 0.8), Word(11.0, 11.5, " not", 0.9))
    assert words_text(parsed.words) == "Ask not"


# --- streaming on real speech --------------------------------------------------------------


SAMPLE_RATE = 16000
UPDATE_EVERY_S = 0.5  # TranscriberConfig.min_interval_s: the consumer's interval while it keeps up
TRIM_PAST_S = 6.0
OVERLAP_S = 0.5


@pytest.fixture(scope="module")
def engine():
    from streaming.engines.asr.engine import AsrConfig, AsrEngine

    return AsrEngine(AsrConfig())


@pytest.fixture(scope="module")
def jfk():
    from faster_whisper.audio import decode_audio

    return decode_audio(str(JFK_PATH), sampling_rate=SAMPLE_RATE)


def stream(engine, audio) -> str:
    """Decode a growing window, trimming it at the commit point as the consumer does (windows too
    short to commit, too); the prompt holds only committed text already trimmed out of the window."""
    stab = LocalAgreementStabilizer()
    window_start, end, total = 0.0, UPDATE_EVERY_S, len(audio) / SAMPLE_RATE
    while end < total:
        window = audio[int(window_start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
        segments = engine.transcribe(window, language="en", prompt=stab.prompt(before=window_start))
        stab.update([Segment.from_dict(s, offset=window_start) for s in segments], window_s=end - window_start)
        if end - window_start > TRIM_PAST_S and stab.committed:
            window_start = max(window_start, stab.committed_end - OVERLAP_S)
        end += UPDATE_EVERY_S
    assert window_start > 0, "the run must cross a window seam"
    last = audio[int(window_start * SAMPLE_RATE) :]
    segments = engine.transcribe(last, language="en", prompt=stab.prompt(before=window_start))
    stab.finalize([Segment.from_dict(s, offset=window_start) for s in segments])
    return words_text(stab.committed)


def test_streaming_jfk_matches_offline_quality_without_doubled_words(engine, jfk):
    offline = " ".join(s["text"].strip() for s in engine.transcribe(jfk, language="en", prompt=None))
    streamed = stream(engine, jfk)
    assert wer(JFK_TEXT, streamed) <= wer(JFK_TEXT, offline) + JFK_STREAMING_MARGIN, streamed
    words = normalise(streamed).split()
    assert all(a != b for a, b in zip(words, words[1:], strict=False)), streamed


# --- stock phrases and audio-time de-duplication ----------------------------------------------


def test_a_stock_phrase_is_not_shown_as_a_guess_but_commits_once_two_decodes_agree():
    """Whisper writes "Thank you." over speech onsets: as a tentative guess it is held back (the
    rest of the guess shows); a student who says it sees it once two decodes agree."""
    stab = LocalAgreementStabilizer()
    first = stab.update([seg(make_words("ask thank you"))], window_s=3.0)
    assert texts(first.tentative) == ["ask", "thank", "you"] and texts(first.shown) == ["ask"]
    second = stab.update([seg(make_words("ask thank you not"))], window_s=3.5)
    assert texts(second.committed) == ["ask", "thank", "you"] and texts(second.shown) == ["not"]


def test_a_stock_phrase_in_the_last_decode_of_a_phrase_is_final():
    stab = LocalAgreementStabilizer()
    stab.update([seg(make_words("thank you"))], window_s=1.0)
    assert texts(stab.finalize()) == ["thank", "you"]  # a real "thank you" is not lost


def test_a_late_answer_over_committed_audio_is_dropped_by_audio_time_whatever_its_text():
    """After a retry or a worker restart an answer re-hears committed audio, its words drifted
    late and spelled differently ("fellows"): they lie mostly inside committed audio, so they
    are dropped by time; matching the committed tail by text alone would have doubled them."""
    stab = committed_through_fellow()  # "and so my fellow": committed audio ends at 1.9 s
    drifted = make_words("and so by fellows", start=0.15) + make_words("americans", start=2.2)
    update = stab.update([seg(drifted)])
    assert texts(update.tentative) == ["americans"]


def test_a_phrase_that_repeats_the_words_before_its_pause_keeps_them():
    """The next phrase of a turn is decoded from its own audio: its first words repeating the
    committed tail are new speech, not a re-decoded seam."""
    stab = LocalAgreementStabilizer()
    stab.finalize([seg(make_words("no"))])  # the first phrase ends: "no" (0.0-0.4 s)
    stab.start_phrase()
    again = make_words("no more", start=1.2)  # 0.8 s later, within the turn
    stab.update([seg(again)], window_s=2.0)
    stab.update([seg(again)], window_s=2.5)
    assert words_text(stab.committed) == "no no more"
