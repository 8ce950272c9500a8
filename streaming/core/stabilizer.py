"""Turn successive Whisper hypotheses of a growing audio window into stable text.

Modelled on whisper_streaming's OnlineASRProcessor/HypothesisBuffer (LocalAgreement-2): a word
is committed once two consecutive decodes agree on it, and committed words never change. The
caller trims the window at the committed boundary, so words re-decoded from the kept context
are dropped by audio time and by matching the committed tail. Pure Python: no Django, no model.
"""

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SEAM_MAX_NGRAM = 5  # longest committed tail looked for at the head of a new hypothesis
SEAM_NEAR_S = 1.0  # a hypothesis starting later than this after the commit point repeats nothing
LOOP_MAX_NGRAM = 8
LOGPROB_FLOOR_MARGIN = 0.5  # how far below avg_logprob_min a segment is rejected outright
# Whisper misreads the first words of a short window, and two short windows often agree on the
# misreading ("plant you sunlight" for "plants use sunlight"): only hypotheses of windows at least
# this long may commit (docs/decisions/0012). Chinese characters need longer windows still: one
# syllable carries a whole character, and short windows agreed on 大魔 for 达摩 (docs/decisions/0027).
MIN_AGREEMENT_WINDOW_S = 2.0
MIN_AGREEMENT_WINDOW_HAN_S = 3.0

# Han ideographs (CJK unified, extension A, compatibility, extensions B and later).
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
# A unit of text without spaces: one Han character, or a run of other letters and digits (an
# English word, a number), each with the punctuation that follows it.
_UNIT = re.compile(rf"\s*(?:[{_HAN}]|[^\W{_HAN}]+|[^\w\s]+)[^\w\s]*")
_HAS_HAN = re.compile(rf"[{_HAN}]")
# The tail of a byte-level token that cut a character in two decodes to U+FFFD.
_BROKEN_CHARACTER = "\ufffd"
# What Whisper writes over silence and noise in Chinese: subtitle credits and video outros from
# its training data. Compared normalised (no spaces, no punctuation, lowercase), as substrings.
STOCK_PHRASES = (
    "请不吝点赞订阅转发打赏支持明镜与点点栏目",
    "明镜与点点栏目",
    "字幕由amaraorg社区提供",
    "小编字幕由amaraorg社区提供",
    "谢谢观看",
    "感谢观看",
    "谢谢收看",
    "谢谢大家收看",
    "优优独播剧场",
    "yoyotelevisionseriesexclusive",
    "中文字幕志愿者",
    "字幕志愿者",
    "点赞订阅",
    "订阅我的频道",
)

# What Whisper writes over speech onsets and noise in English, and a student also says: shown only
# once two decodes agree on them (or the phrase's final holds them), never as a guess
# (docs/decisions/0030). Compared as normalised word runs.
HELD_PHRASES = tuple(
    tuple(phrase.split())
    for phrase in (
        "thank you",
        "thanks for watching",
        "thank you for watching",
        "see you next time",
        "see you next",
        "see you in the next video",
        "please subscribe",
        "bye bye",
    )
)


@dataclass(frozen=True)
class Word:
    start: float  # absolute seconds
    end: float
    text: str  # Whisper's spelling, leading space included (" ask")
    probability: float = 1.0


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    no_speech_prob: float
    avg_logprob: float
    compression_ratio: float
    words: tuple[Word, ...]

    @classmethod
    def from_dict(cls, d: dict, offset: float = 0.0) -> "Segment":
        """Parse an ASR worker's segment; `offset` (the window start) makes times absolute.

        Chinese words become one word per character (`split_characters`), so agreement, seams,
        loops and latency work per character whichever tokens the model grouped.
        """
        return cls(
            start=d["start"] + offset,
            end=d["end"] + offset,
            text=d["text"].replace(_BROKEN_CHARACTER, ""),
            no_speech_prob=d["no_speech_prob"],
            avg_logprob=d["avg_logprob"],
            compression_ratio=d["compression_ratio"],
            words=tuple(
                unit
                for w in d.get("words") or ()
                for unit in split_characters(
                    Word(w["start"] + offset, w["end"] + offset, w["word"], w.get("probability", 1.0))
                )
            ),
        )


def split_characters(word: Word) -> tuple[Word, ...]:
    """A word holding Han characters, as one word per character (other runs, such as an English
    word or a number inside it, stay whole), its time shared in proportion to their length.

    Whisper groups Chinese tokens into "words" differently from one decode to the next (我想 /
    我 想), and a byte-level token may cut a character in two: that half is dropped, never shown.
    """
    text = word.text.replace(_BROKEN_CHARACTER, "")
    if not _HAS_HAN.search(text):
        return (word,) if text == word.text else ((Word(word.start, word.end, text, word.probability),) if text else ())
    units = _UNIT.findall(text)
    weights = [max(1, len(u.strip())) for u in units]
    step = (word.end - word.start) / sum(weights)
    split, start = [], word.start
    for unit, weight in zip(units, weights, strict=True):
        end = start + step * weight
        split.append(Word(start, end, unit, word.probability))
        start = end
    return tuple(split)


@dataclass(frozen=True)
class SegmentFilter:
    """Whisper's own hallucination rules, applied after a single greedy decode.

    A segment is rejected when
    - `no_speech_prob > no_speech_prob_max` and `avg_logprob < avg_logprob_min`: Whisper's
      silence rule (the model thinks there is no speech and is unsure of the text it wrote);
    - `compression_ratio > compression_ratio_max`: text that compresses this well is repetitive
      gibberish (Whisper would retry at a higher temperature; we drop it);
    - `avg_logprob < avg_logprob_min - 0.5`: far below Whisper's retry threshold the text is
      noise whatever `no_speech_prob` says;
    - `no_speech_prob > no_speech_prob_max` and the words look hallucinated by Whisper's
      word-level anomaly score (improbable, or implausibly short or long words): the " You"
      Whisper writes over silence passes the log-probability rule but fails this one;
    - its text holds one of Whisper's Chinese stock phrases (STOCK_PHRASES), which it writes
      over silence and noise and a student never says, or no letter or digit at all.
    """

    no_speech_prob_max: float = 0.6
    avg_logprob_min: float = -1.0
    compression_ratio_max: float = 2.4

    def accepts(self, seg: Segment) -> bool:
        if not any(ch.isalnum() for ch in seg.text):
            return False  # " ..." over noise: nothing a person said
        key = normalize(seg.text)
        if any(phrase in key for phrase in STOCK_PHRASES):
            return False
        if seg.no_speech_prob > self.no_speech_prob_max and (
            seg.avg_logprob < self.avg_logprob_min or _is_anomalous(seg.words)
        ):
            return False
        if seg.compression_ratio > self.compression_ratio_max:
            return False
        return seg.avg_logprob >= self.avg_logprob_min - LOGPROB_FLOOR_MARGIN


def _word_anomaly(word: Word) -> float:
    """openai-whisper's `word_anomaly_score`: hallucinated words are improbable and oddly timed."""
    duration = word.end - word.start
    score = 1.0 if word.probability < 0.15 else 0.0
    if duration < 0.133:
        score += (0.133 - duration) * 15
    if duration > 2.0:
        score += duration - 2.0
    return score


def _is_anomalous(words: Sequence[Word]) -> bool:
    """openai-whisper's `is_segment_anomaly` over the first 8 non-punctuation words."""
    scored = [w for w in words if not _is_punctuation(w.text)][:8]
    if not scored:
        return False
    score = sum(_word_anomaly(w) for w in scored)
    return score >= 3 or score + 0.01 >= len(scored)


def _is_punctuation(text: str) -> bool:
    return all(unicodedata.category(ch).startswith("P") for ch in text.strip())


def normalize(text: str) -> str:
    """Comparison key: lowercase without whitespace or punctuation, so " Ask," equals "ask".

    Letters of every script (CJK included) are kept; a word made only of punctuation keys to
    itself, so it is neither dropped nor equal to every other punctuation mark.
    """
    key = "".join(ch for ch in text.lower() if not ch.isspace() and not _is_punctuation(ch))
    return key or text.strip()


def _keys(words: Sequence[Word]) -> tuple[str, ...]:
    return tuple(normalize(w.text) for w in words)


def _repeat_count(keys: Sequence[str], start: int, n: int) -> int:
    """How many times keys[start:start+n] occurs back to back from `start`."""
    gram = keys[start : start + n]
    count = 1
    while keys[start + count * n : start + (count + 1) * n] == gram:
        count += 1
    return count


def remove_repeat_loops(words: list[Word], max_repeats: int = 2) -> list[Word]:
    """Cut Whisper's repeat loops ("thank you thank you thank you ...") back to `max_repeats`
    occurrences of the repeated n-gram (n = 1..8, compared normalised)."""
    kept, keys = list(words), list(_keys(words))
    i = 0
    while i < len(kept):
        for n in range(1, min(LOOP_MAX_NGRAM, (len(kept) - i) // (max_repeats + 1)) + 1):
            count = _repeat_count(keys, i, n)
            if count > max_repeats:
                del kept[i + max_repeats * n : i + count * n]
                del keys[i + max_repeats * n : i + count * n]
                break
        i += 1
    return kept


def words_text(words: Iterable[Word]) -> str:
    return "".join(w.text for w in words).strip()


@dataclass(frozen=True)
class StabilizerUpdate:
    committed: tuple[Word, ...]  # newly committed by this update
    tentative: tuple[Word, ...]
    shown: tuple[Word, ...]  # the tentative words fit to show (`HELD_PHRASES` wait for agreement)


class LocalAgreementStabilizer:
    """LocalAgreement-2 over word timestamps: commit the longest common prefix of two
    consecutive hypotheses, both of windows of at least `MIN_AGREEMENT_WINDOW_S`."""

    def __init__(self, filter: SegmentFilter | None = None) -> None:
        self.filter = filter or SegmentFilter()
        self.reset()

    def reset(self) -> None:
        """Forget everything (new utterance)."""
        self.committed: tuple[Word, ...] = ()  # all committed since the last reset
        self._phrase_from = 0  # index in `committed` of the current phrase's first word
        self.tentative: tuple[Word, ...] = ()  # the previous hypothesis minus what it committed
        self._tentative_window_s = 0.0  # how much audio the previous hypothesis heard

    def start_phrase(self) -> None:
        """A new phrase of the same turn: its words follow the committed ones, and its windows
        never re-hear them, so a repeat of their tail is new speech ("no ... no more")."""
        self._phrase_from = len(self.committed)

    @property
    def committed_end(self) -> float:
        return self.committed[-1].end if self.committed else 0.0

    def update(self, segments: list[Segment], window_s: float = float("inf")) -> StabilizerUpdate:
        """Commit what this decode and the previous one agree on; the rest stays tentative.

        `window_s` is the audio this decode heard; decodes of short windows are shown, not trusted.
        """
        hypothesis = self._hypothesis(segments)
        agreed = 0
        if min(window_s, self._tentative_window_s) >= _min_agreement_window(hypothesis):
            agreed = _common_prefix_length(_keys(hypothesis), _keys(self.tentative))
        newly = hypothesis[:agreed]
        self.committed += newly
        self.tentative = hypothesis[agreed:]
        self._tentative_window_s = window_s
        return StabilizerUpdate(newly, self.tentative, _without_held_phrases(self.tentative))

    def finalize(self, segments: list[Segment] | None = None) -> tuple[Word, ...]:
        """End of utterance: nothing follows to agree with, so the latest hypothesis is final.

        With `segments` (the last decode) they are applied first and all of their words are
        committed; without, the previous hypothesis' tentative words are. Returns the words
        newly committed.
        """
        newly = self.update(segments).committed if segments is not None else ()
        newly += self.tentative
        self.committed += self.tentative
        self.tentative = ()
        return newly

    def prompt(self, max_chars: int = 200, before: float | None = None, since: float = 0.0) -> str:
        """Tail of the committed text for Whisper's `initial_prompt`: it keeps spelling and
        style consistent across the window trims. Cut at a word boundary.

        Pass the window start as `before`: only words that begin before it are used, as
        whisper_streaming does. Whisper skips speech whose text the prompt already holds, so
        a prompt repeating the window's own words loses them. Words that begin before `since` are
        left out.
        """
        words = [w for w in self.committed if w.start >= since and (before is None or w.start < before)]
        text = words_text(words)
        if len(text) <= max_chars:
            return text
        tail = text[-max_chars:]
        if not text[-max_chars - 1].isspace() and " " in tail:
            tail = tail.split(" ", 1)[1]
        return tail.strip()

    def _hypothesis(self, segments: list[Segment]) -> tuple[Word, ...]:
        """The decode's words that are not committed yet."""
        words = [w for seg in segments if self.filter.accepts(seg) for w in seg.words]
        words = remove_repeat_loops(words)
        if not self.committed:
            return tuple(words)
        # By audio time: a word mostly inside committed audio was heard again (a seam, a retry,
        # a worker restart), whatever its text (docs/decisions/0030).
        fresh = [w for w in words if (w.start + w.end) / 2 >= self.committed_end]
        return tuple(fresh[self._seam_overlap(fresh) :])

    def _seam_overlap(self, fresh: list[Word]) -> int:
        """Length of the longest committed tail (n <= 5 words) the hypothesis starts with: the
        window's context re-decoded at the seam, as HypothesisBuffer.insert removes it.

        A re-decoded word may start well before the commit point (a long word's timestamps
        move between decodes), but not long after it: a word that does is new speech.
        """
        if not fresh or fresh[0].start - self.committed_end > SEAM_NEAR_S:
            return 0
        head, tail = _keys(fresh), _keys(self.committed[self._phrase_from :])
        for n in range(min(SEAM_MAX_NGRAM, len(head), len(tail)), 0, -1):
            if head[:n] == tail[-n:]:
                return n
        return 0


def _without_held_phrases(words: tuple[Word, ...]) -> tuple[Word, ...]:
    """`words` less every run of them that is one of `HELD_PHRASES`."""
    keys = _keys(words)
    held: set[int] = set()
    for phrase in HELD_PHRASES:
        for i in range(len(keys) - len(phrase) + 1):
            if keys[i : i + len(phrase)] == phrase:
                held.update(range(i, i + len(phrase)))
    return tuple(w for i, w in enumerate(words) if i not in held)


def _min_agreement_window(words: Sequence[Word]) -> float:
    return MIN_AGREEMENT_WINDOW_HAN_S if any(_HAS_HAN.search(w.text) for w in words) else MIN_AGREEMENT_WINDOW_S


def _common_prefix_length(a: Sequence[str], b: Sequence[str]) -> int:
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return length
