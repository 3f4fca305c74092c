"""Scoring one answered case, and the figures of a set of scored cases.

Text is matched after normalization (case, typographic quotes and dashes, runs of white
space). A key fact must appear as whole words ("no" is not found in "know"); a quote matches
a passage or citation that contains it, or that it contains (an expected quote may be a whole
sentence of which a citation quotes part, or a clause of a cited sentence).
Not handled: paraphrase. An answer that words a fact differently counts as missing it; that
is what the optional LLM judge is for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..types import Answer, Passage
from .cases import Case

_TRANSLATE = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-"})


def norm(text: str) -> str:
    return " ".join(text.translate(_TRANSLATE).lower().split())


def has_fact(text: str, fact: str) -> bool:
    """``fact`` occurs in ``text`` as whole words (after normalization)."""
    return re.search(rf"(?<!\w){re.escape(norm(fact))}(?!\w)", norm(text)) is not None


def overlaps(text: str, quote: str) -> bool:
    """One contains the other, after normalization."""
    a, b = norm(text), norm(quote)
    return bool(a and b) and (b in a or a in b)


@dataclass
class CaseResult:
    """One case's answer, what was retrieved for it, and its scores (None: not applicable)."""

    id: str
    question: str
    tags: list[str]
    unanswerable: bool
    xfail: str | None
    answer: str = ""
    refused: bool = False
    mode: str = ""  # "llm" (written by the model) or "extractive" (quoted)
    notice: str = ""
    reply: str = ""  # what the model wrote, before the check
    query: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)  # + relevant, exact
    retrieved: list[dict[str, Any]] = field(default_factory=list)  # rank, source, …, relevant
    latency: float | None = None  # seconds for Assistant.ask
    retrieve_latency: float | None = None  # seconds for Assistant.retrieve
    hit: bool | None = None  # some relevant passage in the top k
    reciprocal_rank: float | None = None
    source_recall: float | None = None  # expected sources among the top k passages
    quote_recall: float | None = None  # expected quotes inside the top k passages
    citation_precision: float | None = None  # citations that quote an expected fact or quote
    citation_recall: float | None = None  # expected quotes that some citation quotes
    key_fact_recall: float | None = None
    facts_missing: list[str] = field(default_factory=list)
    offsets_checked: int = 0
    offsets_exact: int = 0
    offsets_unchecked: list[str] = field(default_factory=list)  # why a citation was not checked
    judge: dict[str, Any] | None = None
    error: str = ""
    passed: bool = False
    problems: list[str] = field(default_factory=list)


def _relevant_passage(case: Case, passage: Passage) -> bool:
    if case.expected_quotes:
        return any(norm(q) in norm(passage.text) for q in case.expected_quotes)
    return passage.source in case.expected_sources


def _relevant_citation(case: Case, quote: str, source: str) -> bool:
    if case.expected or case.expected_quotes:
        return any(has_fact(quote, f) for f in case.expected) or any(
            overlaps(quote, q) for q in case.expected_quotes
        )
    return source in case.expected_sources


def score_case(
    case: Case,
    answer: Answer,
    passages: Sequence[Passage],
    exact: Sequence[bool | str],
    *,
    latency: float,
    retrieve_latency: float,
) -> CaseResult:
    """Score an answer and the top-k passages; ``exact[i]`` is citation i's offset check
    (True/False, or the reason it could not be checked)."""
    r = CaseResult(case.id, case.question, list(case.tags), case.unanswerable, case.xfail)
    r.answer, r.refused, r.query = answer.text, answer.refused, answer.query
    r.mode, r.notice, r.reply = answer.mode, answer.notice, answer.reply
    r.latency, r.retrieve_latency = latency, retrieve_latency
    for c, ok in zip(answer.citations, exact, strict=True):
        relevant = None if case.unanswerable else _relevant_citation(case, c.quote, c.source)
        exact_flag = ok if isinstance(ok, bool) else None
        r.citations.append(
            {
                "n": c.n,
                "source": c.source,
                "start": c.start,
                "end": c.end,
                "quote": c.quote,
                "relevant": relevant,
                "exact": exact_flag,
            }
        )
        if isinstance(ok, bool):
            r.offsets_checked += 1
            r.offsets_exact += ok
        else:
            r.offsets_unchecked.append(f"[{c.n}] {c.source}: {ok}")
    looked_for = not case.unanswerable and bool(case.expected_quotes or case.expected_sources)
    for rank, p in enumerate(passages, 1):
        relevant = _relevant_passage(case, p) if looked_for else None
        r.retrieved.append(
            {
                "rank": rank,
                "source": p.source,
                "start": p.start,
                "end": p.end,
                "score": round(p.score, 4),
                "relevant": relevant,
            }
        )
    if case.unanswerable:
        r.problems = [] if answer.refused else ["answered, but the documents do not answer it"]
    else:
        _score_answerable(case, answer, passages, r, looked_for)
    if r.offsets_exact < r.offsets_checked:
        wrong = [f"[{c['n']}]" for c in r.citations if c["exact"] is False]
        r.problems.append(f"citation offsets do not match the source text: {', '.join(wrong)}")
    r.passed = not r.problems
    return r


def _score_answerable(
    case: Case, answer: Answer, passages: Sequence[Passage], r: CaseResult, looked_for: bool
) -> None:
    if looked_for:
        ranks = [x["rank"] for x in r.retrieved if x["relevant"]]
        r.hit = bool(ranks)
        r.reciprocal_rank = 1.0 / ranks[0] if ranks else 0.0
    if case.expected_sources:
        seen = {p.source for p in passages}
        r.source_recall = sum(s in seen for s in case.expected_sources) / len(case.expected_sources)
    if case.expected_quotes:
        texts = [norm(p.text) for p in passages]
        r.quote_recall = sum(any(norm(q) in t for t in texts) for q in case.expected_quotes) / len(
            case.expected_quotes
        )
    if r.citations and (case.expected or case.expected_quotes or case.expected_sources):
        r.citation_precision = sum(bool(c["relevant"]) for c in r.citations) / len(r.citations)
    if case.expected_quotes:
        cited = [c.quote for c in answer.citations]
        r.citation_recall = sum(
            any(overlaps(c, q) for c in cited) for q in case.expected_quotes
        ) / len(case.expected_quotes)
    if case.expected:
        found = [not answer.refused and has_fact(answer.text, f) for f in case.expected]
        r.facts_missing = [f for f, ok in zip(case.expected, found, strict=True) if not ok]
        any_of = case.match == "any"
        r.key_fact_recall = float(any(found)) if any_of else sum(found) / len(found)
    if answer.refused:
        r.problems.append("was refused")
        return
    if r.key_fact_recall is not None and r.key_fact_recall < 1.0:
        wanted = "none of" if case.match == "any" else "missing"
        r.problems.append(f"{wanted} {r.facts_missing} in the answer")
    if r.citation_recall == 0.0:
        r.problems.append(f"no citation quotes any of {list(case.expected_quotes)}")


def _mean(values: Iterable[float | bool | None]) -> tuple[float | None, int]:
    present = [float(v) for v in values if v is not None]
    return (round(sum(present) / len(present), 4) if present else None), len(present)


def _ratio(part: int, whole: int) -> tuple[float | None, int]:
    return (round(part / whole, 4) if whole else None), whole


def _percentile(values: list[float], q: float) -> tuple[float | None, int]:
    return (round(float(np.percentile(values, q)), 4) if values else None), len(values)


def summarize(results: Sequence[CaseResult]) -> dict[str, Any]:
    """The figures of a set of cases; a figure with nothing to measure is None.

    ``measured_on`` holds, for each figure, how many cases (citations for ``offsets_exact``,
    refusals for ``refusal_precision``) it was measured on.
    """
    answerable = [r for r in results if not r.unanswerable and not r.error]
    unanswerable = [r for r in results if r.unanswerable and not r.error]
    refused = [r for r in answerable + unanswerable if r.refused]
    latencies = [r.latency for r in results if r.latency is not None]
    retrieve = [r.retrieve_latency for r in results if r.retrieve_latency is not None]
    false_refusals = sum(r.refused for r in answerable)
    figures = {
        "pass_rate": _ratio(sum(r.passed for r in results), len(results)),
        "hit_at_k": _mean(r.hit for r in answerable),
        "mrr": _mean(r.reciprocal_rank for r in answerable),
        "source_recall": _mean(r.source_recall for r in answerable),
        "quote_recall": _mean(r.quote_recall for r in answerable),
        "citation_precision": _mean(r.citation_precision for r in answerable),
        "citation_recall": _mean(r.citation_recall for r in answerable),
        "offsets_exact": _ratio(
            sum(r.offsets_exact for r in results), sum(r.offsets_checked for r in results)
        ),
        "key_fact_recall": _mean(r.key_fact_recall for r in answerable),
        "refusal_precision": _ratio(sum(r.unanswerable for r in refused), len(refused)),
        "refusal_recall": _ratio(sum(r.refused for r in unanswerable), len(unanswerable)),
        "false_refusal_rate": _ratio(false_refusals, len(answerable)),
        "judge_faithfulness": _mean((r.judge or {}).get("faithfulness") for r in results),
        "judge_correctness": _mean((r.judge or {}).get("correctness") for r in results),
        "latency_p50": _percentile(latencies, 50),
        "latency_p95": _percentile(latencies, 95),
        "retrieve_latency_p50": _percentile(retrieve, 50),
    }
    return {
        "cases": len(results),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "errors": sum(bool(r.error) for r in results),
        "passed": sum(r.passed for r in results),
        "false_refusals": false_refusals,
        "offsets_unchecked": sum(len(r.offsets_unchecked) for r in results),
        "judge_failures": sum(bool(r.judge and r.judge.get("errors")) for r in results),
        **{key: value for key, (value, _) in figures.items()},
        "measured_on": {key: n for key, (_, n) in figures.items()},
    }


def by_tag(results: Sequence[CaseResult]) -> dict[str, dict[str, Any]]:
    """``summarize`` over the cases of each tag, tags in alphabetical order."""
    tags = sorted({t for r in results for t in r.tags})
    return {t: summarize([r for r in results if t in r.tags]) for t in tags}


@dataclass(frozen=True)
class Measure:
    key: str  # in ``summarize``'s dict
    label: str
    group: str
    higher_is_better: bool = True
    latency: bool = False  # seconds, compared relatively; the others are shares in 0..1


MEASURES = (
    Measure("pass_rate", "cases passed", "overall"),
    Measure("hit_at_k", "hit@k", "retrieval"),
    Measure("mrr", "MRR@k", "retrieval"),
    Measure("source_recall", "source recall@k", "retrieval"),
    Measure("quote_recall", "quote recall@k", "retrieval"),
    Measure("citation_precision", "citation precision", "citations"),
    Measure("citation_recall", "citation recall", "citations"),
    Measure("offsets_exact", "exact offsets", "citations"),
    Measure("key_fact_recall", "key-fact recall", "answers"),
    Measure("refusal_precision", "refusal precision", "answers"),
    Measure("refusal_recall", "refusal recall", "answers"),
    Measure("false_refusal_rate", "false refusals", "answers", higher_is_better=False),
    Measure("judge_faithfulness", "faithfulness", "LLM judge"),
    Measure("judge_correctness", "correctness", "LLM judge"),
    Measure("latency_p50", "ask p50 (s)", "latency", higher_is_better=False, latency=True),
    Measure("latency_p95", "ask p95 (s)", "latency", higher_is_better=False, latency=True),
)
