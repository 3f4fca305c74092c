"""The Python API on the seed index: cited answers with exact offsets, refusals, bad questions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from langchain_core.documents import Document

import ingest
import qa
from ingest.store import IndexNotFoundError
from qa import Assistant, Settings
from qa.assistant import standalone_question
from qa.conversation import accepted_rewrite, leans_on
from qa.extractive import REFUSAL_TEXT

from .conftest import SEED_FILE

SEED_TEXT = SEED_FILE.read_text(encoding="utf-8")


def _markers(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"\[(\d+)\]", text)}


def test_china_share_is_answered_with_the_exact_sentence(seed_assistant: Assistant) -> None:
    """The foundation's acceptance question: the answer quotes the seed's sentence, exactly."""
    a = seed_assistant.ask("What share of global rare earth processing does China control?")
    assert "70 percent" in a.text
    assert (a.refused, a.mode, a.notice) == (False, "extractive", "")
    first = a.citations[0]
    assert first.quote.startswith(
        "China currently controls about 70 percent of global rare earth processing"
    )
    assert SEED_TEXT[first.start : first.end] == first.quote
    assert first.source == SEED_FILE.name and first.page is None


def test_every_marker_names_a_citation_with_an_exact_quote(seed_assistant: Assistant) -> None:
    a = seed_assistant.ask(
        "Which countries signed agreements with the U.S. on rare earth minerals?"
    )
    assert _markers(a.text) == {c.n for c in a.citations} and a.citations
    for c in a.citations:
        assert SEED_TEXT[c.start : c.end] == c.quote
        assert f"{c.quote} [{c.n}]" in a.text


@pytest.mark.parametrize(
    "question", ["What is the capital of France?", "Who won the 2022 FIFA World Cup?"]
)
def test_questions_the_documents_cannot_answer_are_refused(
    seed_assistant: Assistant, question: str
) -> None:
    a = seed_assistant.ask(question)
    assert a.refused and a.text == REFUSAL_TEXT and a.citations == []


@pytest.mark.parametrize(
    ("question", "message"),
    [("", "empty"), ("   \n", "empty"), ("why? " * 1000, "limit is 2000")],
)
def test_empty_or_absurdly_long_questions_are_rejected(
    seed_assistant: Assistant, question: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        seed_assistant.ask(question)
    with pytest.raises(ValueError, match=message):
        seed_assistant.retrieve(question)


def test_retrieve_returns_exact_passages_best_first(seed_assistant: Assistant) -> None:
    question = "Lynas Rare Earths operations in Malaysia"
    passages = seed_assistant.retrieve(question, k=3)
    everything = seed_assistant.retrieve(question, k=10)
    assert len(everything) == 4  # the seed index's chunks, each once
    assert len({p.id for p in everything}) == 4 and len(passages) == 3
    assert [p.id for p in passages] == [p.id for p in everything[:3]]  # the best 3
    assert [p.score for p in everything] == sorted((p.score for p in everything), reverse=True)
    assert everything[0].score > everything[-1].score
    assert "Lynas" in passages[0].text
    for p in passages:
        assert SEED_TEXT[p.start : p.end] == p.text
        assert p.page is None and p.metadata["source"] == p.source == SEED_FILE.name


def test_module_functions_use_the_settings_from_the_environment(
    seed_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QA_INDEX_DIR", str(seed_index))
    monkeypatch.setattr(qa, "_default", None)
    a = qa.ask("How large is Australia's cooperation deal on mineral processing?")
    assert "$8.5 billion" in a.text
    assert qa.retrieve("Australia deal", k=2)[0].source == SEED_FILE.name
    assert qa.default_assistant().settings.index_dir == seed_index


def test_missing_index_says_how_to_build_one(tmp_path: Path, embeddings) -> None:  # type: ignore[no-untyped-def]
    assistant = Assistant(Settings(index_dir=tmp_path / "nothing"), embeddings=embeddings)
    with pytest.raises(IndexNotFoundError, match="python -m ingest"):
        assistant.ask("anything at all?")
    assert not (tmp_path / "nothing").exists(), "asking must not create an index"


def test_two_assistants_serve_two_indexes_in_one_process(
    tmp_path: Path,
    seed_assistant: Assistant,
    embeddings,  # type: ignore[no-untyped-def]
) -> None:
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "volcano.txt").write_text(
        "Mount Etna is an active volcano on the east coast of Sicily. It erupted again in 2021.\n"
    )
    ingest.ingest([folder], settings=Settings(index_dir=tmp_path / "idx2"), embeddings=embeddings)
    other = Assistant(Settings(index_dir=tmp_path / "idx2"), embeddings=embeddings)
    a = other.ask("Where is Mount Etna?")
    assert "Sicily" in a.text and a.citations[0].source == "volcano.txt"
    assert seed_assistant.ask("Where is Mount Etna?").refused


def test_follow_up_questions_lean_on_the_previous_one(seed_assistant: Assistant) -> None:
    history = [
        {
            "role": "user",
            "content": "Which company is the largest rare earth supplier outside China?",
        },
        {"role": "assistant", "content": "Lynas Rare Earths [1]"},
    ]
    assert (
        standalone_question("What is the capital of France?", history)
        == "What is the capital of France?"
    )
    a = seed_assistant.ask("Where have its operations faced hurdles?", history=history)
    assert a.query.startswith("Which company is the largest")
    assert "Malaysia" in a.text


def test_retriever_composes_as_a_langchain_runnable(seed_assistant: Assistant) -> None:
    docs = seed_assistant.retriever(k=2).invoke("export restrictions")
    assert len(docs) == 2 and all(isinstance(d, Document) for d in docs)
    assert all(SEED_TEXT[d.metadata["start"] : d.metadata["end"]] == d.page_content for d in docs)
    assert docs[0].metadata["score"] >= docs[1].metadata["score"]


def test_llm_mode_without_an_llm_answers_extractively_with_a_notice(
    seed_index: Path, embeddings
) -> None:  # type: ignore[no-untyped-def]
    assistant = Assistant(Settings(index_dir=seed_index, answer_mode="llm"), embeddings=embeddings)
    a = assistant.ask("What share of global rare earth processing does China control?")
    assert a.mode == "extractive" and "no model is available" in a.notice
    assert "QA_LOCAL_MODEL" in a.notice and "70 percent" in a.text


@pytest.mark.parametrize(
    ("question", "leans"),
    [
        ("Where have its operations faced hurdles?", True),
        ("Why does that matter to Washington?", True),
        ("What about Australia?", True),
        ("Who won the 2022 FIFA World Cup?", False),  # short, but points at nothing before
        ("Which countries signed memorandums of understanding with the United States?", False),
    ],
)
def test_whether_a_question_leans_on_the_conversation_is_decided_without_a_model(
    question: str, leans: bool
) -> None:
    history = [{"role": "user", "content": "Which company is the largest supplier?"}]
    assert leans_on(question, history) is leans
    assert not leans_on(question, [])  # no conversation, nothing to lean on


@pytest.mark.parametrize(
    ("rewrite", "kept"),
    [
        ("Why does Lynas Rare Earths matter to Washington?", True),
        ("Standalone question: Why does Lynas matter to Washington?", True),
        ("The 2022 FIFA World Cup was won by France.", False),  # an answer, not a question
        ("Why does Lynas matter?", False),  # drops "Washington"
        ("", False),
    ],
)
def test_a_rewrite_is_kept_only_as_a_question_with_the_follow_ups_own_words(
    rewrite: str, kept: bool
) -> None:
    got = accepted_rewrite(rewrite, "Why does that matter to Washington?", 2000)
    assert (got is not None) is kept
    if kept:
        assert got is not None and got.endswith("?") and "Standalone" not in got
