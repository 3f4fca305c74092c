"""Running cases through the public API (``Assistant.ask``, then ``Assistant.retrieve``).

Retrieval is measured on what ``ask`` searched (``Answer.query``: a follow-up is searched with
the question it leans on), at depth ``k``, which may exceed the passages an answer draws on
(``top_k``). Latency is the wall time of ``ask``, after one warm-up call has loaded the model
and opened the index, so the first case does not carry the start-up.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import prompts
from ..assistant import Assistant
from ..prompts import PromptError
from ..types import Answer
from .cases import Case
from .judge import NO_JUDGE, Judge, Verdict
from .metrics import CaseResult, by_tag, score_case, summarize
from .sources import SourceTexts

REPORT_VERSION = 1
ProgressFn = Callable[[int, int], None]  # (done, total)


@dataclass
class EvalRun:
    """Everything an evaluation measured; ``to_dict`` is report.json."""

    results: list[CaseResult]
    meta: dict[str, Any]
    summary: dict[str, Any] = field(init=False)
    tags: dict[str, dict[str, Any]] = field(init=False)
    _by_id: dict[str, CaseResult] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.summary = summarize(self.results)
        self.tags = by_tag(self.results)
        self._by_id = {r.id: r for r in self.results}

    def result(self, case_id: str) -> CaseResult:
        return self._by_id[case_id]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": REPORT_VERSION,
            "meta": self.meta,
            "summary": self.summary,
            "tags": self.tags,
            "cases": [asdict(r) for r in self.results],
        }


def _meta(assistant: Assistant, k: int, judge: Judge | None) -> dict[str, Any]:
    s = assistant.settings
    index = assistant.index
    return {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "k": k,
        "index_dir": str(s.index_dir),
        "documents": len(index.records.all()),
        "chunks": index.count(),
        "settings": {
            "answer_mode": s.answer_mode,
            "top_k": s.top_k,
            "max_answer_sentences": s.max_answer_sentences,
            "refusal_threshold": s.refusal_threshold,
            "embedding_model": s.embedding_model,
            "chunk_tokens": s.chunk_tokens,
            "chunk_overlap_tokens": s.chunk_overlap_tokens,
            # what the model is shown and what decides about its answer (bench.replay_replies)
            "llm_evidence_chars": s.llm_evidence_chars,
            "llm_max_tokens": s.llm_max_tokens,
            "llm_refusal_gate": s.llm_refusal_gate,
            "llm_gate_threshold": s.llm_gate_threshold,
            "llm_cited_threshold": s.llm_cited_threshold,
            "llm_timeout": s.llm_timeout,
        },
        "judge": judge.name if judge is not None else NO_JUDGE,
        "prompts": prompts.digest(directory=s.prompts_dir),
    }


def evaluate(
    assistant: Assistant,
    cases: Sequence[Case],
    *,
    k: int = 10,
    sources: SourceTexts | None = None,
    judge: Judge | None = None,
    on_progress: ProgressFn | None = None,
    meta: dict[str, Any] | None = None,
) -> EvalRun:
    """Ask every case, retrieve its top ``k`` passages, check every citation, score it all.

    A question the assistant rejects (``ValueError``) fails its case with the reason; the
    other cases still run. ``sources`` finds the source texts (default: the index's records).
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    if sources is None:
        sources = SourceTexts(assistant.index.records)
    assistant.retrieve("warm-up", k=1)  # loads the model and opens the index before timing
    results = []
    for i, case in enumerate(cases, 1):
        results.append(_run_case(assistant, case, k, sources, judge))
        if on_progress:
            on_progress(i, len(cases))
    return EvalRun(results, {**_meta(assistant, k, judge), **(meta or {})})


def _run_case(
    assistant: Assistant, case: Case, k: int, sources: SourceTexts, judge: Judge | None
) -> CaseResult:
    try:
        started = time.perf_counter()
        answer = assistant.ask(case.question, history=list(case.history))
        latency = time.perf_counter() - started
        started = time.perf_counter()
        passages = assistant.retrieve(answer.query or case.question, k=k)
        retrieve_latency = time.perf_counter() - started
    except ValueError as err:
        r = CaseResult(case.id, case.question, list(case.tags), case.unanswerable, case.xfail)
        r.error = str(err)
        r.problems = [f"error: {err}"]
        return r
    exact = [sources.check(c.source, c.start, c.end, c.quote) for c in answer.citations]
    result = score_case(
        case, answer, passages, exact, latency=latency, retrieve_latency=retrieve_latency
    )
    if judge is not None:
        result.judge = asdict(_judged(judge, case, answer))
    return result


def _judged(judge: Judge, case: Case, answer: Answer) -> Verdict:
    """The judge's verdict; a judge that fails gives an unknown verdict, not a failed run."""
    try:
        return judge(case, answer)
    except PromptError:
        raise  # a broken prompt file would fail every case alike: the user must fix it
    except Exception as err:
        return Verdict(None, None, errors=[f"the judge failed: {type(err).__name__}: {err}"])
