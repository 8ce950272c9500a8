"""Split reply text into sentences so speech synthesis can start before the whole reply is ready.

Short pieces keep the time to first audio low and make per-sentence caching effective; the
rules are tuned for English and Chinese, mixed freely, which is what the tutor speaks. A split
decision never looks past the next word, so on a growing LLM stream every piece but the last is final.
"""

import re

_CLOSERS = "\"'”’)]）」』】》"
# A run of terminators (".", "?!", "...", "。", "……") with any closing quotes or brackets, or a line break.
_BOUNDARY = re.compile(rf"[.!?;…。！？；]+[{re.escape(_CLOSERS)}]*|\n")
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")
_TOKEN_BEFORE = re.compile(r"[\w.]*$")
# A full stop after these is part of the word, never the end of a sentence ("Mr. Smith", "e.g. maths").
_NEVER_FINAL = frozenset(
    {
        "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "rev", "gen", "capt", "lt", "col", "sgt",
        "hon", "vs", "cf", "e.g", "i.e", "eg", "ie", "approx", "fig", "nos", "vol", "pp", "dept",
    }
)  # fmt: skip
# These may end a sentence; they do only when the next word starts like a sentence ("... etc. The").
_MAYBE_FINAL = frozenset({"etc", "inc", "ltd", "co", "corp", "al", "no", "a.m", "p.m", "u.s", "u.k"})
# Comma-like marks where an over-long sentence can pause naturally; not the comma in "1,000".
_CLAUSE = re.compile(r"(?<=[，、])|(?<=,)(?!\d)")
_WORD = re.compile(r"\S+\s*")


def split_sentences(text: str, max_chars: int = 160) -> list[str]:
    """Sentences of `text` with their punctuation, stripped, each at most `max_chars` characters."""
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    pieces: list[str] = []
    for sentence in _sentences(text):
        pieces.extend(_fit(sentence, max_chars))
    return pieces


def _sentences(text: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        if _ends_sentence(text, start, match):
            _append(sentences, text[start : match.end()])
            start = match.end()
    _append(sentences, text[start:])
    return sentences


def _append(sentences: list[str], piece: str) -> None:
    """Stray punctuation ("。", "...") joins the sentence before it instead of being spoken alone."""
    piece = piece.strip()
    if _speakable(piece):
        sentences.append(piece)
    elif piece and sentences:
        sentences[-1] += piece


def _speakable(piece: str) -> bool:
    return any(ch.isalnum() for ch in piece)


def _ends_sentence(text: str, start: int, match: re.Match[str]) -> bool:
    marks = match.group()
    after = text[match.end() : match.end() + 1]
    if marks == "\n":
        return True  # list items and paragraphs of an LLM answer
    if after and not after.isspace():
        # Chinese needs no space after its punctuation, and "Hi.你好" is two sentences too;
        # otherwise the mark is inside a token: "3.5", "example.com".
        return bool(_CJK.search(marks) or _CJK.match(after))
    if marks.rstrip(_CLOSERS) != ".":
        return True
    if text[start : match.start()].strip().isdigit():
        return False  # a list number: "1. Add the numerators."
    before = _TOKEN_BEFORE.search(text, max(0, match.start() - 20), match.start())
    token = before.group().lower() if before else ""
    if token in _NEVER_FINAL or (len(token) == 1 and token.isalpha()):
        return False  # titles, common abbreviations, initials ("J. K. Rowling")
    if token in _MAYBE_FINAL or "." in token:
        following = text[match.end() :].lstrip()[:1]
        return not following or following.isupper() or not following.isascii()
    return True


def _fit(sentence: str, max_chars: int) -> list[str]:
    """Cut an over-long sentence at commas, then between words, then (no spaces in Chinese) anywhere."""
    if len(sentence) <= max_chars:
        return [sentence]
    chunks: list[str] = []
    for clause in _pack([c for c in _CLAUSE.split(sentence) if c], max_chars):
        if len(clause) <= max_chars:
            chunks.append(clause)
            continue
        for words in _pack(_WORD.findall(clause), max_chars):
            chunks.extend(words[i : i + max_chars].strip() for i in range(0, len(words), max_chars))
    return [chunk for chunk in chunks if _speakable(chunk)]


def _pack(parts: list[str], max_chars: int) -> list[str]:
    """Greedily join consecutive parts while the stripped result stays within `max_chars`."""
    packed: list[str] = []
    current = ""
    for part in parts:
        if current and len((current + part).strip()) > max_chars:
            packed.append(current.strip())
            current = ""
        current += part
    if current.strip():
        packed.append(current.strip())
    return packed
