"""qa.eval: the case format, the scores, comparisons, source checks and the report files."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import ingest
from qa import Answer, Assistant, Citation, Passage, Settings
from qa.eval import (
    Case,
    CaseFileError,
    SourceTexts,
    Verdict,
    compare,
    evaluate,
    load_cases,
    write_cases,
)
from qa.eval.compare import format_comparison
from qa.eval.metrics import has_fact, score_case, summarize
from qa.eval.report import terminal, write

from .conftest import SEED_FILE, SEEDS

SEED_CASES = Path(__file__).parent / "eval" / "seed_qa.jsonl"
SEED_SOURCE = SEED_FILE.name


def _write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- case format ---------------------------------------------------------------------------


def test_the_seed_cases_load_and_survive_a_round_trip(tmp_path: Path) -> None:
    cases, warnings = load_cases(SEED_CASES)
    assert warnings == [] and len(cases) == 36
    follow_up = next(c for c in cases if c.id == "follow-up-lynas")
    assert follow_up.history[0]["role"] == "user" and follow_up.expected == ("Malaysia",)
    assert sum(c.unanswerable for c in cases) == 8 and sum(bool(c.xfail) for c in cases) == 1
    write_cases(tmp_path / "again.jsonl", cases)
    again, _ = load_cases(tmp_path / "again.jsonl")
    assert again == cases


def test_a_bad_case_file_names_every_bad_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "bad.jsonl",
        '{"id": "a", "question": "fine?"}',
        "{not json",
        '{"id": "b"}',
        '{"id": "c", "question": "q?", "match": "most"}',
        '{"id": "d", "question": "q?", "unanswerable": true, "expected": ["x"]}',
        '{"id": "a", "question": "again?"}',
        '{"id": "e", "question": "q?", "history": [{"role": "bot", "content": "hi"}]}',
        '{"id": "f", "question": "q?", "expected": [3]}',
        "[1, 2]",
        '{"id": "g", "question": "What \\ud800 share?"}',
    )
    with pytest.raises(CaseFileError) as err:
        load_cases(path)
    message = str(err.value)
    for line, words in [
        (2, "not valid JSON"),
        (3, "'question' is missing"),
        (4, "'match' must be"),
        (5, "an unanswerable case cannot expect"),
        (6, "id 'a' is already used on line 1"),
        (7, "'history' must be"),
        (8, "'expected' must be a list of non-empty strings"),
        (9, "not a JSON object"),
        (10, "not valid Unicode text (a lone surrogate, U+D800)"),
    ]:
        assert f"bad.jsonl:{line}: {words}" in message
    assert "bad.jsonl:1:" not in message


def test_unknown_fields_are_reported_not_fatal_and_defaults_fill_in(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "c.jsonl",
        "",
        '{"question": "What?", "expected": "one fact", "expected_quote": ["typo"]}',
        '{"question": "Why?", "rating": "bad", "expected_quote": ["typo"]}',
    )
    cases, warnings = load_cases(path)
    assert [c.id for c in cases] == ["line-2", "line-3"]
    assert cases[0].expected == ("one fact",) and cases[0].match == "all"
    assert any("'expected_quote'" in w and "lines 2, 3" in w for w in warnings)
    assert any("'rating'" in w and "line 3" in w for w in warnings)


@pytest.mark.parametrize(
    ("content", "message"), [(None, "no case file"), ("\n\n", "holds no cases")]
)
def test_missing_or_empty_case_files_are_clear_errors(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "cases.jsonl"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CaseFileError, match=message):
        load_cases(path)


# --- scoring -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fact", "found"),
    [
        ("I know the answer.", "no", False),
        ("No, it is not.", "no", True),
        ("an $8.5 billion deal", "$8.5 billion", True),
        ("pledges alone won’t be enough", "pledges alone won", True),
        ("China’s  capacity\n", "china's capacity", True),
        ("non-binding agreements", "binding", True),
        ("unbinding", "binding", False),
    ],
)
def test_key_facts_match_whole_words_after_normalization(text: str, fact: str, found: bool) -> None:
    assert has_fact(text, fact) is found


def _passage(text: str, source: str = "a.txt", start: int = 0) -> Passage:
    return Passage(f"{source}:{start}", text, source, start, start + len(text), None, 0.5)


def _answer(*quotes: str, refused: bool = False, source: str = "a.txt") -> Answer:
    citations = [
        Citation(i, source, q, 10 * i, 10 * i + len(q), None, 0.6) for i, q in enumerate(quotes, 1)
    ]
    text = " ".join(f"{q} [{i}]" for i, q in enumerate(quotes, 1)) or "refused"
    return Answer(text, citations, refused, "extractive", query="q")


CASE = Case(
    "c",
    "Which countries and what share?",
    expected=("Japan", "70 percent"),
    expected_sources=("a.txt",),
    expected_quotes=("China controls about 70 percent", "deals with Japan and Malaysia"),
)


def test_scores_of_an_answer_and_its_retrieval() -> None:
    """Two citations, one quoting an expected passage; the evidence ranks 2nd and 4th."""
    answer = _answer("Today China controls about 70 percent of processing.", "Unrelated words.")
    passages = [
        _passage("Intro."),
        _passage("Today China controls about 70 percent of processing.", start=20),
        _passage("More.", "b.txt"),
        _passage("It signed deals with Japan and Malaysia.", start=90),
    ]
    r = score_case(CASE, answer, passages, [True, True], latency=0.1, retrieve_latency=0.01)
    assert (r.hit, r.reciprocal_rank) == (True, 0.5)
    assert [x["relevant"] for x in r.retrieved] == [False, True, False, True]
    assert r.source_recall == 1.0 and r.quote_recall == 1.0
    assert r.citation_precision == 0.5  # the second citation quotes nothing expected
    assert r.citation_recall == 0.5  # one of the two expected quotes is cited
    assert r.key_fact_recall == 0.5 and r.facts_missing == ["Japan"]
    assert not r.passed and r.problems == ["missing ['Japan'] in the answer"]
    any_case = Case("c", "q", expected=("Japan", "70 percent"), match="any")
    assert score_case(any_case, answer, [], [True, True], latency=0, retrieve_latency=0).passed


def test_refusals_wrong_offsets_and_unreadable_sources_are_problems() -> None:
    refused = score_case(CASE, _answer(refused=True), [], [], latency=0, retrieve_latency=0)
    assert refused.key_fact_recall == 0.0 and refused.citation_recall == 0.0
    assert refused.problems == ["was refused"] and refused.hit is False
    off_topic = Case("u", "Capital of France?", unanswerable=True)
    answered = _answer("Paris is nice.")
    wrong = score_case(off_topic, answered, [], [False], latency=0, retrieve_latency=0)
    assert wrong.problems == [
        "answered, but the documents do not answer it",
        "citation offsets do not match the source text: [1]",
    ]
    assert wrong.citations[0]["relevant"] is None
    unchecked = score_case(
        off_topic, answered, [], ["gone.txt changed"], latency=0, retrieve_latency=0
    )
    assert unchecked.offsets_checked == 0 and unchecked.offsets_unchecked == [
        "[1] a.txt: gone.txt changed"
    ]


def test_summary_of_refusals_and_tags() -> None:
    answerable = Case("a", "q", expected=("x",), tags=("t1",))
    unanswerable = Case("u", "q", unanswerable=True, tags=("t1", "t2"))
    results = [
        score_case(answerable, _answer("x is so."), [], [True], latency=1, retrieve_latency=0),
        score_case(answerable, _answer(refused=True), [], [], latency=2, retrieve_latency=0),
        score_case(unanswerable, _answer(refused=True), [], [], latency=3, retrieve_latency=0),
        score_case(unanswerable, _answer("y."), [], [True], latency=4, retrieve_latency=0),
    ]
    s = summarize(results)
    assert (s["refusal_precision"], s["refusal_recall"]) == (0.5, 0.5)
    assert (s["false_refusals"], s["false_refusal_rate"]) == (1, 0.5)
    assert s["key_fact_recall"] == 0.5 and s["pass_rate"] == 0.5
    assert s["latency_p50"] == 2.5 and s["hit_at_k"] is None
    assert s["measured_on"]["refusal_precision"] == 2 and s["measured_on"]["offsets_exact"] == 2


# --- comparing reports ---------------------------------------------------------------------


def _report(**summary: Any) -> dict[str, Any]:
    base = {"pass_rate": 0.9, "key_fact_recall": 0.9, "false_refusal_rate": 0.05}
    return {
        "meta": {"k": 10},
        "summary": {**base, "latency_p95": 0.1, **summary},
        "cases": [{"id": "a", "passed": True}, {"id": "b", "passed": False}],
    }


def test_compare_flags_drops_beyond_the_tolerance_only() -> None:
    old = _report()
    assert compare(old, copy.deepcopy(old)).regressions == []
    within = compare(old, _report(key_fact_recall=0.885))
    assert within.regressions == []
    worse = _report(key_fact_recall=0.85, false_refusal_rate=0.1, latency_p95=1.0)
    worse["cases"][0]["passed"] = False
    worse["cases"][1]["passed"] = True
    c = compare(old, worse)
    assert [d.key for d in c.regressions] == ["key_fact_recall", "false_refusal_rate"]
    assert c.newly_failing == ["a"] and c.newly_passing == ["b"]
    assert "2 regression(s) beyond tolerance: key-fact recall, false refusals" in (
        format_comparison(c, 10)
    )
    slow = compare(old, worse, tolerance=0.1, max_slowdown=0.5)
    assert [d.key for d in slow.regressions] == ["latency_p95"]


def test_compare_shows_but_does_not_judge_missing_figures() -> None:
    c = compare(_report(hit_at_k=None), _report(hit_at_k=0.5))
    assert next(d for d in c.deltas if d.key == "hit_at_k").regressed is False
    other = _report()
    other["meta"]["k"] = 5
    other["cases"] = [{"id": "z", "passed": True}]
    notes = compare(_report(), other).notes
    assert "k differs: 10 before, 5 now" in notes and any("1 new, 2 gone" in n for n in notes)


# --- running on a real index ---------------------------------------------------------------


class LengthJudge:
    """A judge at the seam: deterministic, so the plumbing can be checked without an LLM."""

    name = "length judge"

    def __call__(self, case: Case, answer: Answer) -> Verdict:
        return Verdict(faithfulness=1.0 if answer.citations else 0.0, correctness=0.5)


def test_evaluate_runs_cases_through_the_assistant(seed_assistant: Assistant) -> None:
    cases = [
        Case(
            "share",
            "What share of global rare earth processing does China control?",
            expected=("70 percent",),
            expected_sources=(SEED_SOURCE,),
            expected_quotes=("China currently controls about 70 percent",),
            tags=("number",),
        ),
        Case("long", "why? " * 500, tags=("bad",)),
        Case("france", "What is the capital of France?", unanswerable=True),
    ]
    run = evaluate(seed_assistant, cases, k=3, judge=LengthJudge())
    share = run.result("share")
    assert share.passed and share.hit and len(share.retrieved) == 3
    assert share.offsets_checked == len(share.citations) == share.offsets_exact
    assert "characters long; the limit is 2000" in run.result("long").error
    assert run.result("france").refused and run.result("france").passed
    s = run.summary
    assert (s["errors"], s["passed"], s["judge_correctness"]) == (1, 2, 0.5)
    assert run.tags["number"]["key_fact_recall"] == 1.0 and run.meta["judge"] == "length judge"
    assert run.meta["k"] == 3 and run.meta["documents"] == 1


def test_source_texts_check_offsets_and_notice_changed_files(
    tmp_path: Path, embeddings: Any
) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(SEEDS, docs)
    settings = Settings(index_dir=tmp_path / "idx")
    assert ingest.ingest([docs], settings=settings, embeddings=embeddings).ok
    assistant = Assistant(settings, embeddings=embeddings)
    try:
        answer = assistant.ask("Which company is the largest rare earth supplier outside China?")
        c = answer.citations[0]
        fresh = SourceTexts(assistant.index.records)
        assert fresh.check(c.source, c.start, c.end, c.quote) is True
        assert fresh.check(c.source, c.start + 1, c.end, c.quote) is False
        assert "not in the index's records" in str(fresh.check("nope.txt", 0, 1, "x"))
        moved = tmp_path / "moved"
        shutil.copytree(docs, moved)
        assert SourceTexts(None, moved).check(c.source, c.start, c.end, c.quote) is True
        (docs / c.source).write_text("rewritten", encoding="utf-8")
        changed = SourceTexts(assistant.index.records).check(c.source, c.start, c.end, c.quote)
        assert isinstance(changed, str) and "changed since it was ingested" in changed
    finally:
        assistant.index.close()


def test_report_files_plots_and_terminal(seed_assistant: Assistant, tmp_path: Path) -> None:
    cases, _ = load_cases(SEED_CASES)
    run = evaluate(seed_assistant, cases[:6] + cases[-3:], k=5)
    report = run.to_dict()
    files = write(report, tmp_path / "out")
    names = sorted(f.name for f in files)
    assert names == ["latency.png", "ranks.png", "report.json", "report.md", "tags.png"]
    for png in (f for f in files if f.suffix == ".png"):
        with Image.open(png) as image:
            assert image.format == "PNG" and image.width >= 600 and image.height >= 300
    assert json.loads((tmp_path / "out" / "report.json").read_text()) == report
    md = (tmp_path / "out" / "report.md").read_text()
    assert "![Scores by tag](tags.png)" in md and "| hit@5 |" in md
    assert "`japan-pm` (known miss:" in md
    text = terminal(report)
    assert text.startswith("cases: 9 cases (6 answerable, 3 unanswerable), k=5")
    assert "LLM judge skipped" in text and "japan-pm [known miss]" in text
