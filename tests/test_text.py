"""Sentence boundaries with exact offsets, and lexical terms."""

from __future__ import annotations

import itertools

import pytest

from ingest.text import sentence_spans, terms

from .conftest import SEED_FILE


def test_seed_sentences_are_exact_and_cover_the_text() -> None:
    text = SEED_FILE.read_text(encoding="utf-8")
    spans = sentence_spans(text)
    assert spans == sorted(spans)
    for (_, b), (c, _) in itertools.pairwise(spans):
        assert b <= c, "sentences overlap"
        assert not text[b:c].strip(), f"text lost between sentences: {text[b:c]!r}"
    for a, b in spans:
        assert text[a:b] == text[a:b].strip() and text[a:b]
    assert not text[: spans[0][0]].strip() and not text[spans[-1][1] :].strip()
    sentences = [text[a:b] for a, b in spans]
    # A heading line is its own segment, not glued to the sentence after it.
    assert "Challenging China’s Stronghold" in sentences
    assert any(s.startswith("China currently controls about 70 percent") for s in sentences)
    # Abbreviations do not end sentences.
    assert any(
        s.startswith("In a major policy shift") and "U.S. President Donald Trump" in s
        for s in sentences
    )


def test_hard_wrapped_markdown_is_joined_but_lists_are_not() -> None:
    text = (
        "# Title\n\n"
        "This is a hard-wrapped paragraph of Markdown that goes on for a while and then\n"
        "continues on the next line because the editor wraps at eighty columns or so, and\n"
        "then ends. A second sentence follows here.\n\n"
        "- item one is here\n- item two is there\n"
    )
    got = [text[a:b] for a, b in sentence_spans(text)]
    assert got == [
        "# Title",
        "This is a hard-wrapped paragraph of Markdown that goes on for a while and then\n"
        "continues on the next line because the editor wraps at eighty columns or so, and\n"
        "then ends.",
        "A second sentence follows here.",
        "- item one is here",
        "- item two is there",
    ]


def test_offsets_are_characters_not_bytes() -> None:
    text = "Café “au lait” costs €3.50. Voilà! 日本語の文。 Next sentence here."
    got = [text[a:b] for a, b in sentence_spans(text)]
    assert got[0] == "Café “au lait” costs €3.50."
    assert got[-1] == "Next sentence here."


def test_spans_respect_start_and_end() -> None:
    text = "Ignored part. Kept one. Kept two. Ignored tail."
    start, end = text.index("Kept one"), text.index(" Ignored tail")
    assert [text[a:b] for a, b in sentence_spans(text, start, end)] == ["Kept one.", "Kept two."]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What share does China control?", ["share", "china", "control"]),
        ("controls CONTROLLED controlling", ["control", "control", "control"]),
        ("It is an $8.5 billion deal", ["8.5", "billion", "deal"]),
    ],
)
def test_terms_drop_function_words_and_stem(text: str, expected: list[str]) -> None:
    assert terms(text) == expected
