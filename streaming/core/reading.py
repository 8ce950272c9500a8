"""Reading practice: align what a student has read so far to the text they are reading.

`ReadingAligner` takes the transcript as it grows (newly committed words and the current tentative
ones, with their times) and reports, per word of the text, correct / misread / skipped / pending,
the words inserted between them and the reading position, after every update: progress never waits
for the end. English is compared word by word (case, punctuation, numbers and a few abbreviations
normalised), Chinese character by character (Simplified, without punctuation).

The alignment is a dynamic programme that rewards matches and charges misreads, skips and
insertions, so a re-read or self-corrected word is an insertion, never an error. It runs from an
anchor -- the last match with enough committed words after it -- over a window of the text ahead,
and what lies before the anchor is never aligned again: each update costs the same however long the
reading (docs/decisions/0039).
"""

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Literal

import opencc

from streaming.core.stabilizer import Word, split_characters

READING_LANGUAGES = ("en", "zh")
LONG_PAUSE_S = 2.0  # a gap this long between read words is shown to the teacher
# Scores of the alignment: a match outweighs a skip and an insertion together, so skipping a
# sentence and reading on is told from misreading every word after it once a few words match.
MATCH, MISREAD, INSERT, SKIP = 2, -1, -1, -1
SETTLE_AFTER = 4  # committed words after a match before the alignment up to it is final
LOOKAHEAD = 120  # words (characters) of the text beyond the spoken tail that a reader may skip to
MAX_TAIL = 48  # spoken words aligned again at most: a longer unmatched stretch is settled as it is
MAX_SPAN = 4  # a word may be read as up to this many (e.g. "1865": "eighteen sixty five")
REPEAT_REACH = 8  # an inserted word equal to one this close behind the reading position is a re-read

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_CHINESE_UNIT = re.compile(rf"[{_HAN}]|[^\W_{_HAN}]+")
_ENGLISH_WORD = re.compile(r"[^\s\u2013\u2014]+")  # en and em dashes part words as spaces do
_APOSTROPHES = str.maketrans("", "", "'\u2019")
_EDGE_PUNCTUATION = re.compile(r"^[\W_]+|[\W_]+$")  # what a transcript word shows: " golden," -> "golden"

ABBREVIATIONS = {
    "mr": "mister",
    "mrs": "missus",
    "dr": "doctor",
    "st": "saint",
    "jr": "junior",
    "vs": "versus",
    "ok": "okay",
    "etc": "etcetera",
}
ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ORDINALS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
_ORDINAL = re.compile(r"^(\d+)(?:st|nd|rd|th)$")


class Status(StrEnum):
    CORRECT = "correct"
    MISREAD = "misread"
    SKIPPED = "skipped"
    PENDING = "pending"  # not reached yet


def key(text: str) -> str:
    """Comparison key: lowercase letters and digits only ("Mr." -> "mr", "It's" -> "its")."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_APOSTROPHES)
    return "".join(ch for ch in text if ch.isalnum())


def _cardinal(n: int) -> list[str]:
    """English number words of 0 <= n < 10**9 ("and" left out: `forms` adds it)."""
    if n < 20:
        return [ONES[n]]
    if n < 100:
        return [TENS[n // 10]] + ([ONES[n % 10]] if n % 10 else [])
    for size, name in ((10**6, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= size:
            head, rest = divmod(n, size)
            return _cardinal(head) + [name] + (_cardinal(rest) if rest else [])
    raise AssertionError(n)


def _ordinal(words: list[str]) -> list[str]:
    last = words[-1]
    if last in ORDINALS:
        spoken = ORDINALS[last]
    elif last.endswith("y"):
        spoken = last[:-1] + "ieth"
    else:
        spoken = last + "th"
    return words[:-1] + [spoken]


def _number_readings(n: int) -> list[list[str]]:
    """Ways to say n aloud: the cardinal, and a year's pairs (1865: eighteen sixty-five)."""
    readings = [_cardinal(n)]
    if 1000 <= n < 10000 and n % 1000:
        high, low = divmod(n, 100)
        if low == 0:
            readings.append(_cardinal(high) + ["hundred"])
        elif high % 10 or n >= 2010:  # 1905 "nineteen oh five"; 2024 "twenty twenty-four"
            readings.append(_cardinal(high) + (["oh"] if low < 10 else []) + _cardinal(low))
    return readings


@cache
def forms(word_key: str) -> frozenset[str]:
    """Keys that read `word_key`: itself, its abbreviation's long form, and a number's words
    (with and without "and"), each joined without spaces as `key` joins them."""
    found = {word_key}
    if word_key in ABBREVIATIONS:
        found.add(ABBREVIATIONS[word_key])
    ordinal = _ORDINAL.match(word_key)
    digits = ordinal.group(1) if ordinal else word_key
    if digits.isascii() and digits.isdigit() and len(digits) <= 9:
        for words in _number_readings(int(digits)):
            words = _ordinal(words) if ordinal else words
            found.add("".join(words))
            if "hundred" in words[:-1]:
                at = words.index("hundred") + 1
                found.add("".join(words[:at] + ["and"] + words[at:]))
    return frozenset(found)


@dataclass(frozen=True)
class Token:
    """One unit of comparison: a word of the text or of the transcript (a character in Chinese)."""

    text: str  # as written
    key: str
    start: float = 0.0  # spoken tokens: seconds in the session's audio
    end: float = 0.0
    offset: int = 0  # text tokens: where `text` begins in the reference text

    @property
    def forms(self) -> frozenset[str]:
        return forms(self.key)


class Reference:
    """The text to read, as tokens: its words, or for Chinese its characters."""

    def __init__(self, text: str, language: str) -> None:
        if language not in READING_LANGUAGES:
            raise ValueError(f"reading practice is in {', '.join(READING_LANGUAGES)}, not {language!r}")
        self.text = text
        self.language = language
        if language == "zh":
            simplified = _simplified(text)
            self.tokens = tuple(
                Token(m.group(), key(simplified[m.start() : m.end()]), offset=m.start())
                for m in _CHINESE_UNIT.finditer(text)
            )
        else:
            found = (Token(m.group(), key(m.group()), offset=m.start()) for m in _ENGLISH_WORD.finditer(text))
            self.tokens = tuple(t for t in found if t.key)
        if not self.tokens:
            raise ValueError("the text has no word to read")

    def __len__(self) -> int:
        return len(self.tokens)


def _simplified(text: str) -> str:
    """Simplified characters, one for one (the transcript is Simplified already: the engine
    converts it); where a phrase conversion would change the length, character by character."""
    converter = opencc.OpenCC("t2s")
    whole = converter.convert(text)
    return whole if len(whole) == len(text) else "".join(converter.convert(ch)[:1] or ch for ch in text)


def spoken_tokens(words: Sequence[Word], language: str) -> list[Token]:
    """Transcript words as tokens: Chinese ones character by character, as the text is split."""
    units = [unit for w in words for unit in split_characters(w)] if language == "zh" else words
    tokens = []
    for w in units:
        k = key(w.text)
        if k:
            tokens.append(Token(_EDGE_PUNCTUATION.sub("", w.text), k, w.start, w.end))
    return tokens


# --- alignment ---------------------------------------------------------------------------------

OpKind = Literal["match", "misread", "insert", "skip"]


@dataclass(frozen=True)
class Op:
    """One step of an alignment: text tokens [ref, ref + ref_len) against spoken [spoken, spoken + spoken_len)."""

    kind: OpKind
    ref: int
    ref_len: int
    spoken: int
    spoken_len: int


def _spans(keys: Sequence[str]) -> dict[int, list[str | None]]:
    """spans[k][j]: keys[j - k : j] joined, for k from 2 to MAX_SPAN; None before the start."""
    return {
        k: ["".join(keys[j - k : j]) if j >= k else None for j in range(len(keys) + 1)] for k in range(2, MAX_SPAN + 1)
    }


def align(ref: Sequence[Token], spoken: Sequence[Token], *, to_end: bool) -> list[Op]:
    """Best alignment of all of `spoken` to the start of `ref` (all of it when `to_end`; otherwise
    the rest of `ref` is not read yet and costs nothing). Indices are relative to the arguments.

    At equal scores the reading position stays back: a word at the position is left pending, not
    marked misread, until the next words decide; a word said twice counts the second time.
    """
    m, n = len(ref), len(spoken)
    ref_forms = [t.forms for t in ref]
    spoken_forms = [t.forms for t in spoken]
    ref_spans = _spans([t.key for t in ref])
    spoken_spans = _spans([t.key for t in spoken])
    score = [[0] * (n + 1) for _ in range(m + 1)]
    back: list[list[tuple[OpKind, int, int]]] = [[("skip", 0, 0)] * (n + 1) for _ in range(m + 1)]
    for i in range(1, m + 1):
        score[i][0], back[i][0] = score[i - 1][0] + SKIP, ("skip", 1, 0)
    for j in range(1, n + 1):
        score[0][j], back[0][j] = score[0][j - 1] + INSERT, ("insert", 0, 1)
    for i in range(1, m + 1):
        r_forms = ref_forms[i - 1]
        row, above = score[i], score[i - 1]
        for j in range(1, n + 1):
            s_forms = spoken_forms[j - 1]
            step: tuple[OpKind, int, int]
            if r_forms.isdisjoint(s_forms):
                best, step = above[j - 1] + MISREAD, ("misread", 1, 1)
            else:
                best, step = above[j - 1] + MATCH, ("match", 1, 1)
            for k in range(2, MAX_SPAN + 1):
                said = spoken_spans[k][j]
                if said is not None and said in r_forms and above[j - k] + MATCH > best:
                    best, step = above[j - k] + MATCH, ("match", 1, k)
                written = ref_spans[k][i]
                if written is not None and written in s_forms and score[i - k][j - 1] + MATCH * k > best:
                    best, step = score[i - k][j - 1] + MATCH * k, ("match", k, 1)
            if row[j - 1] + INSERT > best:
                best, step = row[j - 1] + INSERT, ("insert", 0, 1)
            # A misread as good as a skip goes first: next to the word read before it.
            if above[j] + SKIP > best or (above[j] + SKIP == best and step[0] == "misread"):
                best, step = above[j] + SKIP, ("skip", 1, 0)
            row[j], back[i][j] = best, step
    end = m if to_end else max(range(m + 1), key=lambda i: (score[i][n], -i))
    ops: list[Op] = []
    i, j = end, n
    while i or j:
        kind, di, dj = back[i][j]
        i, j = i - di, j - dj
        ops.append(Op(kind, i, di, j, dj))
    ops.reverse()
    return ops


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WordResult:
    text: str  # as written in the text
    offset: int  # where it begins in the text
    status: Status
    start: float | None = None  # when it was read (misread: when the other word was said)
    end: float | None = None
    heard: str | None = None  # misread: what was said instead


@dataclass(frozen=True)
class Inserted:
    before: int  # index of the text word it came before (len(words) after the last)
    text: str
    start: float
    end: float
    repeat: bool  # a word of the text read again (a re-read or self-correction: no error)


@dataclass(frozen=True)
class Pause:
    before: int  # index of the text word read after the pause
    start: float
    duration: float


@dataclass(frozen=True)
class Reading:
    """Where a reading stands: statuses before `settled` are final, those from there to `position`
    may still change with the next words, and words from `position` on are pending until the
    reader gets there or finishes."""

    language: str
    words: tuple[WordResult, ...]
    inserted: tuple[Inserted, ...]
    position: int  # text words behind the reader
    settled: int  # text words whose status no longer changes
    finished: bool
    correct: int
    reading_time: float  # seconds from the start of the first read word to the end of the last
    pauses: tuple[Pause, ...]

    @property
    def accuracy(self) -> float:
        """Share of the text read correctly: of the words read so far, or of all at the end."""
        total = len(self.words) if self.finished else self.position
        return self.correct / total if total else 0.0

    @property
    def wcpm(self) -> float:
        """Words (Chinese: characters) correct per minute of reading time."""
        return self.correct * 60.0 / self.reading_time if self.reading_time > 0 else 0.0

    def as_dict(self) -> dict:
        """JSON-ready, camelCase as the API writes: a progress message and a saved attempt."""
        return {
            "language": self.language,
            "position": self.position,
            "settled": self.settled,
            "finished": self.finished,
            "words": [
                {
                    "text": w.text,
                    "offset": w.offset,
                    "status": str(w.status),
                    "start": _rounded(w.start),
                    "end": _rounded(w.end),
                    **({"heard": w.heard} if w.heard is not None else {}),
                }
                for w in self.words
            ],
            "inserted": [
                {
                    "before": x.before,
                    "text": x.text,
                    "start": _rounded(x.start),
                    "end": _rounded(x.end),
                    "repeat": x.repeat,
                }
                for x in self.inserted
            ],
            "figures": {
                "accuracy": round(self.accuracy, 4),
                "correct": self.correct,
                "total": len(self.words),
                "wcpm": round(self.wcpm, 1),
                "readingTime": round(self.reading_time, 3),
                "longPauses": [
                    {"before": p.before, "start": _rounded(p.start), "duration": round(p.duration, 3)}
                    for p in self.pauses
                ],
            },
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class ReadingAligner:
    """One reading of one text, aligned as the transcript grows.

    `update` after each transcript update: the words committed since the last call (never
    revised) and the current tentative ones (replaced each time). `finish` when the reader is
    done: what was never reached becomes skipped.
    """

    def __init__(self, reference: Reference) -> None:
        self.reference = reference
        self.spoken: list[Token] = []  # committed
        self.tentative: list[Token] = []
        self.settled_ops: list[Op] = []  # absolute indices
        self.anchor = (0, 0)  # (text tokens, committed spoken tokens) the settled ops cover
        self.reading = self._result(self.settled_ops, finished=False)

    def update(self, committed: Sequence[Word], tentative: Sequence[Word] = ()) -> Reading:
        language = self.reference.language
        self.spoken.extend(spoken_tokens(committed, language))
        self.tentative = spoken_tokens(tentative, language)
        ops = self._align_tail(to_end=False)
        settled = self._settle(ops)
        self.reading = self._result(self.settled_ops + ops[settled:], finished=False)
        return self.reading

    def finish(self) -> Reading:
        """The final result: the words said (committed and the tentative ones last shown) aligned
        to the whole rest of the text, pending words skipped."""
        self.reading = self._result(self.settled_ops + self._align_tail(to_end=True), finished=True)
        return self.reading

    def _align_tail(self, *, to_end: bool) -> list[Op]:
        """The words said after the anchor against the text after it, in absolute indices."""
        p, q = self.anchor
        tail = self.spoken[q:] + self.tentative
        ref = self.reference.tokens
        stop = len(ref) if to_end else min(len(ref), p + len(tail) + LOOKAHEAD)
        return [
            Op(op.kind, op.ref + p, op.ref_len, op.spoken + q, op.spoken_len)
            for op in align(ref[p:stop], tail, to_end=to_end)
        ]

    def _settle(self, ops: list[Op]) -> int:
        """Make final the ops up to the last match followed by SETTLE_AFTER committed words (or,
        with more than MAX_TAIL committed words after the anchor, the oldest of them as they
        stand); returns how many of `ops` that settled."""
        committed = len(self.spoken)
        last = -1
        for k, op in enumerate(ops):
            spoken_end = op.spoken + op.spoken_len
            if op.kind == "match" and spoken_end <= committed - SETTLE_AFTER:
                last = k
            elif op.spoken_len and spoken_end <= committed - MAX_TAIL:
                last = max(last, k)
        if last >= 0:
            self.settled_ops.extend(ops[: last + 1])
            final = ops[last]
            self.anchor = (final.ref + final.ref_len, final.spoken + final.spoken_len)
        return last + 1

    def _result(self, ops: Sequence[Op], *, finished: bool) -> Reading:
        ref = self.reference.tokens
        spoken = self.spoken + self.tentative
        words: list[WordResult] = [WordResult(t.text, t.offset, Status.PENDING) for t in ref]
        inserted: list[Inserted] = []
        read: list[tuple[int, Token]] = []  # (text index, spoken token) of each word read
        position = 0
        for op in ops:
            said = spoken[op.spoken : op.spoken + op.spoken_len]
            if op.kind == "insert":
                token = said[0]
                near = {t.key for t in ref[max(0, op.ref - REPEAT_REACH) : op.ref + 1]}
                inserted.append(Inserted(op.ref, token.text, token.start, token.end, token.key in near))
            elif op.kind == "skip":
                words[op.ref] = WordResult(ref[op.ref].text, ref[op.ref].offset, Status.SKIPPED)
            else:
                status = Status.CORRECT if op.kind == "match" else Status.MISREAD
                heard = " ".join(t.text for t in said) if status == Status.MISREAD else None
                for r in range(op.ref, op.ref + op.ref_len):
                    words[r] = WordResult(ref[r].text, ref[r].offset, status, said[0].start, said[-1].end, heard)
                read += [(op.ref, t) for t in said]
                position = op.ref + op.ref_len
        pauses = []
        if read:
            first, last = read[0][1], read[-1][1]
            between = sorted(
                (t for t in spoken if first.start <= t.start and t.end <= last.end), key=lambda t: (t.start, t.end)
            )
            gaps = zip(between, between[1:], strict=False)
            for a, b in gaps:
                if b.start - a.end >= LONG_PAUSE_S:
                    after = next((r for r, t in read if t.start >= b.start), position)
                    pauses.append(Pause(after, a.end, b.start - a.end))
            reading_time = last.end - first.start
        else:
            reading_time = 0.0
        return Reading(
            language=self.reference.language,
            words=tuple(words),
            inserted=tuple(inserted),
            position=len(ref) if finished else position,
            settled=len(ref) if finished else self.anchor[0],
            finished=finished,
            correct=sum(w.status == Status.CORRECT for w in words),
            reading_time=max(0.0, reading_time),
            pauses=tuple(pauses),
        )
