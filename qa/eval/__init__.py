"""Evaluation: run question cases through the assistant and measure answers and retrieval.

    from qa.eval import evaluate, load_cases
    cases, warnings = load_cases("tests/eval/seed_qa.jsonl")
    run = evaluate(assistant, cases, k=10)
    run.summary["key_fact_recall"], run.tags["list"], run.result("china-share").problems

``python -m qa eval`` and the pytest evaluation (tests/eval/) both go through ``evaluate``.
Every figure is computed without an LLM, except the optional LLM judge's (``make_judge``,
``evaluate(..., judge=...)``): faithfulness and correctness, asked of the configured model.
"""

from .cases import Case, CaseFileError, load_cases, write_cases
from .compare import Comparison, compare
from .judge import Judge, Verdict
from .llm_judge import LLMJudge, make_judge
from .metrics import CaseResult
from .runner import EvalRun, evaluate
from .sources import SourceTexts

__all__ = [
    "Case",
    "CaseFileError",
    "CaseResult",
    "Comparison",
    "EvalRun",
    "Judge",
    "LLMJudge",
    "SourceTexts",
    "Verdict",
    "compare",
    "evaluate",
    "load_cases",
    "make_judge",
    "write_cases",
]
