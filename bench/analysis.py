"""What a student saw, scored the way an outside client scores it (docs/decisions/0032).

Pure: no server, no model. `follow` replays a client's `transcription` messages against the timed
reference words and answers, per reference word, from when it was on screen *as itself* (the
aligned shown word equals it) for good, and from when it was on screen so as committed text. The
benches turn that into word latency and final delay measured from the word's end in the audio;
the quality bench adds the transcript faults of issue 19 (stock phrases, doubled n-grams, finals
that never came).
"""

import bisect
import difflib
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import jiwer

from tests.speech import cer, characters, normalise, wer

PHRASE_GAP_S = 0.5  # a gap in the speech this long ends a phrase: final delay is timed there
WINDOW_SLACK_S = 0.5  # reference words this far outside a message's start/end may still align to it
MIN_DOUBLED_WORDS = 3  # a doubled n-gram: at least this many words said twice in a row
MAX_DOUBLED_WORDS = 40

# Whisper's stock phrases (what it writes over silence, noise and speech onsets, learnt from
# subtitled videos). Kept here, independent of any filter in the service, so the bench checks the
# filter rather than agreeing with it. Matched on tokens (`tokens`): a prefix is enough.
STOCK_PHRASES = {
    "en": (
        "thank you",
        "thanks for watching",
        "thank you for watching",
        "thanks for listening",
        "see you next",
        "see you in the next",
        "please subscribe",
        "like and subscribe",
        "subscribe to",
        "subtitles by",
        "amara org",
        "bye bye",
    ),
    "zh": (
        "谢谢观看",
        "感谢观看",
        "谢谢大家",
        "请不吝点赞",
        "订阅",
        "字幕由",
        "字幕",
        "明镜与点点栏目",
        "优优独播剧场",
    ),
}


def tokens(text: str, language: str = "en") -> list[str]:
    """What latency and error rates count: normalised words, or characters for Chinese."""
    return list(characters(text)) if language == "zh" else normalise(text).split()


def error_rate(reference: str, hypothesis: str, language: str = "en") -> float:
    """WER, or CER for Chinese (Simplified, without punctuation)."""
    return cer(reference, hypothesis) if language == "zh" else wer(reference, hypothesis)


def pooled_error_rate(pairs: Iterable[tuple[str, str]], language: str = "en") -> float:
    """Errors over all pairs / reference words over all pairs (not a mean of per-clip rates)."""
    references, hypotheses = [], []
    for reference, hypothesis in pairs:
        if language == "zh":
            references.append(characters(reference))
            hypotheses.append(characters(hypothesis) or "-")
        else:
            references.append(normalise(reference))
            hypotheses.append(normalise(hypothesis) or "<empty>")
    if not references:
        return 0.0
    measure = jiwer.cer if language == "zh" else jiwer.wer
    return float(measure(references, hypotheses))


@dataclass(frozen=True)
class RefWord:
    word: str  # one token (see `tokens`)
    start: float  # seconds in the clip
    end: float
    timed: bool = True  # False: no offline word at this place; times interpolated (not timed)


def pair_equal_and_replaced(a: Sequence[str], b: Sequence[str]) -> tuple[dict[int, int], dict[int, int]]:
    """difflib's alignment of `a` to `b`: (a position -> b position for equal words, the same for
    equal and substituted words, paired in order within a substitution)."""
    equal: dict[int, int] = {}
    aligned: dict[int, int] = {}
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag in ("equal", "replace"):
            for k in range(min(i2 - i1, j2 - j1)):
                aligned[i1 + k] = j1 + k
                if tag == "equal":
                    equal[i1 + k] = j1 + k
    return equal, aligned


def within_speech(words: Sequence[RefWord], speech: Sequence[tuple[float, float]]) -> list[RefWord]:
    """Each word cut to the stretch of speech (start, end in seconds, sorted) it overlaps most.

    Whisper's word times stretch a word before or after a pause into it (JFK's "ask" starts in the
    second of silence before it; a "like..." runs 1.7 s into the pause that follows it), which
    would time latency from a moment the word was not yet over (or hide the pause). A word in no
    speech keeps its times; times stay in order."""
    result: list[RefWord] = []
    for word in words:
        overlaps = [(min(word.end, b) - max(word.start, a), a, b) for a, b in speech]
        overlap, a, b = max(overlaps, default=(0.0, 0.0, 0.0))
        start, end = (max(word.start, a), min(word.end, b)) if overlap > 0 else (word.start, word.end)
        if result:
            start, end = max(start, result[-1].start), max(end, result[-1].end)
        result.append(RefWord(word.word, start, end, word.timed))
    return result


def timed_reference(reference: Sequence[str], offline: Sequence[RefWord]) -> list[RefWord]:
    """The reference tokens with the times of the offline word aligned to each (equal or
    substituted: the same place in the audio). A reference word the offline decode left out gets
    times spread over the gap between its timed neighbours and `timed=False`: it still aligns,
    but no latency is measured from a guessed time."""
    _, aligned = pair_equal_and_replaced(reference, [w.word for w in offline])
    words: list[RefWord | None] = [
        RefWord(token, offline[aligned[i]].start, offline[aligned[i]].end) if i in aligned else None
        for i, token in enumerate(reference)
    ]
    result: list[RefWord] = []
    for i, word in enumerate(words):
        if word is not None:
            result.append(word)
            continue
        before = result[-1].end if result else None
        after = next((w.start for w in words[i + 1 :] if w is not None), None)
        if before is None:
            before = after if after is not None else 0.0
        time = (before + (after if after is not None else before)) / 2
        result.append(RefWord(reference[i], time, time, timed=False))
    return result


def phrase_ends(words: Sequence[RefWord], gap_s: float = PHRASE_GAP_S) -> list[int]:
    """Indices of the timed words followed by a gap of at least `gap_s` in the speech, and of the
    last timed word: where a speaker pauses, so where the final delay is measured."""
    timed = [i for i, w in enumerate(words) if w.timed]
    ends = [a for a, b in itertools.pairwise(timed) if words[b].start - words[a].end >= gap_s]
    return ends + timed[-1:]


@dataclass
class Turn:
    """One utterance (`utterance_id`) as the client saw it."""

    utterance_id: object
    start: float  # the earliest `start` of its messages: its text may go back that far
    showed_text: bool = False  # some message of it had text
    final_at: float | None = None  # when its `is_final` message came
    final_text: str = ""  # as sent
    last_word: int | None = None  # the last reference word its final aligns to (equal or substituted)
    stock: Counter[str] = field(default_factory=Counter)  # most stock phrases shown at once


@dataclass
class Seen:
    """Per reference word: the time from which it was shown matching (committed or tentative),
    and shown matching as committed text, without a later message taking it away; None if never."""

    shown: list[float | None]
    committed: list[float | None]
    turns: list[Turn]

    @property
    def finals_missing(self) -> int:
        return sum(1 for t in self.turns if t.showed_text and t.final_at is None)

    @property
    def stock_phrases(self) -> Counter[str]:
        return sum((t.stock for t in self.turns), Counter())

    @property
    def finals(self) -> list[str]:
        """The finals' texts, as saved."""
        return [t.final_text for t in self.turns if t.final_at is not None]


def stock_phrases_shown(shown: Sequence[str], matched: Iterable[int], language: str = "en") -> Counter[str]:
    """Stock phrases in the tokens `shown` that are not reference words said there: at least one
    of their tokens is not aligned, equal, to the reference (`matched`: positions that are).
    Longer phrases first; a token belongs to one phrase at most."""
    real = set(matched)
    used: set[int] = set()
    found: Counter[str] = Counter()
    phrases = sorted((tokens(p, language) for p in STOCK_PHRASES.get(language, ())), key=len, reverse=True)
    for phrase in phrases:
        n = len(phrase)
        for i in range(len(shown) - n + 1):
            span = range(i, i + n)
            if list(shown[i : i + n]) == phrase and not used.intersection(span) and not real.issuperset(span):
                used.update(span)
                found[" ".join(phrase)] += 1
    return found


def follow(
    words: Sequence[RefWord],
    transcripts: Iterable[tuple[float, dict]],
    language: str = "en",
) -> Seen:
    """Replay `(received, data)` transcription messages of a fresh session against `words`.

    What is on screen: every earlier turn's final text, and the current turn's `text` (committed +
    tentative). Each message's turn text is aligned (difflib) to the reference words between its
    turn's earliest `start` and its `end` (with `WINDOW_SLACK_S` of slack) that no earlier final
    matched; a reference word is shown matching when the word aligned to it is equal. It is shown
    from the first message from which it stays shown matching in every later message of its turn
    and in the turn's final; a turn that ends without a final takes its words off screen (they were
    never kept). The same for committed text (the final's words are all committed). Words a final
    matched are kept and leave later windows, so text said once and shown twice cannot match twice.
    """
    n = len(words)
    starts = [w.start for w in words]
    ends = [w.end for w in words]
    shown: list[float | None] = [None] * n
    committed: list[float | None] = [None] * n
    kept = [False] * n
    turns: list[Turn] = []
    touched: set[int] = set()  # reference words the current turn has shown

    def drop_unfinished() -> None:
        for j in touched:
            if not kept[j]:
                shown[j] = committed[j] = None
        touched.clear()

    for received, data in transcripts:
        if not turns or turns[-1].final_at is not None or turns[-1].utterance_id != data.get("utterance_id"):
            if turns and turns[-1].final_at is None:
                drop_unfinished()
            turns.append(Turn(data.get("utterance_id"), data["start"]))
        turn = turns[-1]
        turn.start = min(turn.start, data["start"])
        final = bool(data["is_final"])
        text = tokens(data["text"], language)
        n_committed = len(text) if final else len(tokens(data.get("committed", ""), language))
        lo = bisect.bisect_left(ends, turn.start - WINDOW_SLACK_S)
        hi = bisect.bisect_right(starts, data["end"] + WINDOW_SLACK_S)
        window = [j for j in range(lo, hi) if not kept[j]]
        equal, aligned = pair_equal_and_replaced(text, [words[j].word for j in window])
        at = {window[jj]: i for i, jj in equal.items()}
        for j in window:
            i = at.get(j)
            if i is None:
                shown[j] = committed[j] = None
                continue
            touched.add(j)
            shown[j] = shown[j] if shown[j] is not None else received
            if i < n_committed:
                committed[j] = committed[j] if committed[j] is not None else received
            else:
                committed[j] = None
        turn.showed_text = turn.showed_text or bool(text)
        turn.stock = turn.stock | stock_phrases_shown(text, equal, language)  # | keeps the larger count
        if final:
            turn.final_at = received
            turn.final_text = data["text"]
            turn.last_word = window[aligned[max(aligned)]] if aligned else None
            for j in at:
                kept[j] = True
            touched.clear()
    if turns and turns[-1].final_at is None:
        drop_unfinished()
    return Seen(shown, committed, turns)


@dataclass
class WordTimes:
    """A stream's honest figures (seconds, on the clock `follow`'s `received` times use)."""

    word_latencies: list[float]  # per timed reference word shown matching: shown minus its end
    word_ends: list[float]  # the same words' ends in the clip (for per-minute figures)
    words_missed: int  # timed reference words never shown matching for good
    final_delays: list[float]  # per phrase end: first committed matching minus its end
    phrase_ends_missed: int  # phrase ends never committed matching
    turn_close_delays: list[float]  # per final: its arrival minus the end of its last word


def word_times(words: Sequence[RefWord], seen: Seen, clock: Callable[[float], float]) -> WordTimes:
    """Latencies from `seen`; `clock(t)` is when the clip's second `t` was spoken, on the same
    clock as the messages' arrival times."""
    timed = [j for j, w in enumerate(words) if w.timed]
    shown = {j: t for j in timed if (t := seen.shown[j]) is not None}
    ends = phrase_ends(words)
    committed = {j: t for j in ends if (t := seen.committed[j]) is not None}
    return WordTimes(
        word_latencies=[t - clock(words[j].end) for j, t in shown.items()],
        word_ends=[words[j].end for j in shown],
        words_missed=len(timed) - len(shown),
        final_delays=[t - clock(words[j].end) for j, t in committed.items()],
        phrase_ends_missed=len(ends) - len(committed),
        turn_close_delays=[
            t.final_at - clock(words[t.last_word].end)
            for t in seen.turns
            if t.final_at is not None and t.last_word is not None
        ],
    )


def doubled_ngrams(hypothesis: Sequence[str], reference: Sequence[str]) -> list[str]:
    """N-grams of at least `MIN_DOUBLED_WORDS` tokens said twice in a row in `hypothesis` where
    the reference does not say them twice in a row (the longest at each place, left to right)."""
    said = f" {' '.join(reference)} "
    found = []
    i = 0
    while i < len(hypothesis):
        size = next(
            (
                n
                for n in range(min(MAX_DOUBLED_WORDS, (len(hypothesis) - i) // 2), MIN_DOUBLED_WORDS - 1, -1)
                if hypothesis[i] == hypothesis[i + n] and hypothesis[i : i + n] == hypothesis[i + n : i + 2 * n]
            ),
            0,
        )
        if size and f" {' '.join(hypothesis[i : i + 2 * size])} " not in said:
            found.append(" ".join(hypothesis[i : i + size]))
            i += 2 * size
        else:
            i += 1
    return found
