"""The reply's form: what the grammar admits, and the strict reading of what a model wrote.

The grammar is checked by llama.cpp itself (its GBNF parser, through llama-cpp-python), so a
grammar it would refuse fails here, not on a user's question.
"""

from __future__ import annotations

import pytest

from qa.reply import Claim, Reply, grammar, may_refuse, parse, settled, shown


def test_sentences_with_their_ids_are_read_in_order() -> None:
    got = parse("China controls 70 percent [2]. Lynas is largest [1][3].", 3, yes_no=False)
    assert got == Reply(
        [Claim("China controls 70 percent.", (2,)), Claim("Lynas is largest.", (1, 3))]
    )


def test_a_stop_before_the_markers_and_spacing_are_read_alike() -> None:
    assert parse("It cost $40 million. [1]", 2, False) == Reply(
        [Claim("It cost $40 million.", (1,))]
    )
    assert parse("It cost $40 million [1] [1]", 2, False) == Reply(
        [Claim("It cost $40 million", (1,))]
    )


@pytest.mark.parametrize(
    "text",
    [
        "China controls 70 percent.",  # nothing cited
        "China controls 70 percent [4].",  # no such id: 3 rows were shown
        "China controls 70 percent [0].",
        "China controls [1] 70 percent of it.",  # text after the markers cites nothing
        "China controls 70 percent (1).",  # another shape of marker
    ],
)
def test_a_reply_not_in_the_form_is_no_answer(text: str) -> None:
    assert parse(text, 3, yes_no=False) is None


def test_not_in_documents_is_a_refusal_in_any_case_or_spacing() -> None:
    for text in ("NOT_IN_DOCUMENTS", " not in documents. ", "Not_in_the_documents"):
        assert parse(text, 3, False) == Reply([], refused=True)


def test_a_yes_or_no_answer_opens_with_its_verdict() -> None:
    got = parse("No. The agreements are non-binding [2].", 3, yes_no=True)
    assert got == Reply([Claim("The agreements are non-binding.", (2,))], verdict="No")
    assert parse("Yes, they are [1].", 3, yes_no=True) == Reply(
        [Claim("they are.", (1,))], verdict="Yes"
    )
    assert parse("Yes.", 3, yes_no=True) is None  # a verdict needs the evidence that decides it


def test_a_sentence_cut_off_by_the_length_limit_is_dropped() -> None:
    got = parse("China controls 70 percent [1]. Lynas is the larg", 3, False)
    assert got == Reply([Claim("China controls 70 percent.", (1,))])
    assert parse("China controls 70 perc", 3, False) is None


def test_streamed_text_hides_ids_and_holds_a_possible_refusal() -> None:
    assert shown("China controls 70 percent [2][3].") == "China controls 70 percent."
    assert may_refuse("NOT_IN") and may_refuse("not in doc") and not may_refuse("China")
    # Held back: trailing space (a marker may follow) and an unfinished marker.
    assert settled("China controls ") == len("China controls")
    assert settled("70 percent [1") == len("70 percent")
    assert settled("70 percent [1] and") == len("70 percent [1] and")


def test_llama_cpp_accepts_the_grammar() -> None:
    from llama_cpp import LlamaGrammar

    for ids, yes_no in ((1, False), (12, True)):
        text = grammar(ids, yes_no)
        assert f'"{ids}"' in text and "NOT_IN_DOCUMENTS" in text
        LlamaGrammar.from_string(text, verbose=False)  # raises on a grammar it cannot parse
