"""Sentence splitting for speech: English, Chinese and mixed text, as a tutor's replies arrive."""

import pytest

from streaming.core.text_split import split_sentences


def test_english_sentences_keep_their_punctuation():
    assert split_sentences("Hello there. How are you today?  I am fine!") == [
        "Hello there.",
        "How are you today?",
        "I am fine!",
    ]


def test_chinese_sentences_split_without_spaces():
    assert split_sentences("你好。今天我们学习数学！你准备好了吗？好的；我们开始吧") == [
        "你好。",
        "今天我们学习数学！",
        "你准备好了吗？",
        "好的；",
        "我们开始吧",
    ]


def test_mixed_chinese_and_english():
    assert split_sentences("Good job!你答对了。Next question: what is 7 times 8？请回答。") == [
        "Good job!",
        "你答对了。",
        "Next question: what is 7 times 8？",
        "请回答。",
    ]


def test_closing_quotes_stay_with_their_sentence():
    assert split_sentences('He said "Well done." Then he smiled.') == ['He said "Well done."', "Then he smiled."]
    assert split_sentences("“你好。”他说。") == ["“你好。”", "他说。"]


def test_ellipses_and_repeated_marks():
    assert split_sentences("Well... let me think. Really?! Yes… 嗯……好吧。") == [
        "Well...",
        "let me think.",
        "Really?!",
        "Yes…",
        "嗯……",
        "好吧。",
    ]


def test_abbreviations_and_initials_do_not_end_sentences():
    text = "Mr. Smith and Dr. Wang teach maths, e.g. fractions, i.e. parts of a whole. J. K. Rowling wrote books."
    assert split_sentences(text) == [
        "Mr. Smith and Dr. Wang teach maths, e.g. fractions, i.e. parts of a whole.",
        "J. K. Rowling wrote books.",
    ]


def test_ambiguous_abbreviations_end_a_sentence_only_before_a_capital():
    assert split_sentences("We need pens, paper, etc. The shop opens at 9 a.m. tomorrow. It is No. 5 on the list.") == [
        "We need pens, paper, etc.",
        "The shop opens at 9 a.m. tomorrow.",
        "It is No. 5 on the list.",
    ]
    assert split_sentences("The answer is no. Try again.") == ["The answer is no.", "Try again."]


def test_decimals_and_dotted_words_are_not_boundaries():
    assert split_sentences("Pi is about 3.14. It costs $2.50 at example.com today.") == [
        "Pi is about 3.14.",
        "It costs $2.50 at example.com today.",
    ]


def test_long_sentence_splits_at_commas_within_max_chars():
    text = (
        "When you add fractions, first find a common denominator, then rewrite each fraction with it, "
        "and finally add the numerators while keeping the denominator the same."
    )
    pieces = split_sentences(text, max_chars=60)
    assert pieces == [
        "When you add fractions, first find a common denominator,",
        "then rewrite each fraction with it,",
        "and finally add the numerators while keeping the denominator",
        "the same.",
    ]
    assert all(len(piece) <= 60 for piece in pieces)


def test_long_chinese_sentence_splits_at_chinese_commas():
    text = "首先我们找到公分母，然后把每个分数改写成这个分母，最后把分子相加、分母保持不变。"
    pieces = split_sentences(text, max_chars=20)
    assert pieces == ["首先我们找到公分母，", "然后把每个分数改写成这个分母，", "最后把分子相加、分母保持不变。"]
    assert "".join(pieces) == text


def test_thousands_separators_are_not_clause_breaks():
    pieces = split_sentences("The school has 1,250 students and 80 teachers, a big school.", max_chars=50)
    assert pieces == ["The school has 1,250 students and 80 teachers,", "a big school."]


def test_text_without_any_break_is_cut_at_max_chars():
    text = "一二三四五六七八九十" * 5
    pieces = split_sentences(text, max_chars=16)
    assert all(len(piece) <= 16 for piece in pieces)
    assert "".join(pieces) == text


@pytest.mark.parametrize("max_chars", [1, 7, 25, 160])
def test_max_chars_is_always_respected(max_chars):
    text = (
        "Supercalifragilisticexpialidocious is a long word, isn't it? 这是一个很长很长很长很长很长很长的句子，"
        "里面有逗号、顿号。And some more words, with commas, to split up."
    )
    pieces = split_sentences(text, max_chars=max_chars)
    assert pieces
    assert all(0 < len(piece) <= max_chars for piece in pieces)
    assert [ch for ch in "".join(pieces) if ch.isalnum()] == [ch for ch in text if ch.isalnum()]


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "...", "。"])
def test_empty_or_punctuation_only_input_gives_nothing(text):
    assert split_sentences(text) == []


def test_stray_punctuation_joins_the_previous_sentence():
    assert split_sentences("Good. . .  Next one.") == ["Good...", "Next one."]


def test_line_breaks_end_list_items_and_list_numbers_stay_attached():
    assert split_sentences("To add fractions:\n1. Find a common denominator.\n2. Add the numerators.\n\n好的") == [
        "To add fractions:",
        "1. Find a common denominator.",
        "2. Add the numerators.",
        "好的",
    ]


@pytest.mark.parametrize("max_chars", [30, 160])
def test_pieces_before_the_last_are_final_while_text_streams_in(max_chars):
    """The responder speaks every piece but the last as an LLM answer grows; those must never change."""
    text = (
        "Great work, Mr. Li! You got 3.5 out of 4. Next, e.g. fractions like 1/2, etc. We will also "
        "practise at 9 a.m. tomorrow.你明白了吗？明白了……那我们开始吧。Ready?! Let's go, one step at a time."
    )
    final = split_sentences(text, max_chars)
    for end in range(1, len(text)):
        done = split_sentences(text[:end], max_chars)[:-1]
        assert final[: len(done)] == done, text[:end]


def test_whitespace_is_stripped():
    assert split_sentences("  First line.\n\n  Second line.  ") == ["First line.", "Second line."]


def test_max_chars_must_be_positive():
    with pytest.raises(ValueError):
        split_sentences("Hello.", max_chars=0)
