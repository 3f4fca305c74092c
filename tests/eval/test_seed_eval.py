"""Evaluation on gold questions: one test per case, plus the aggregate figures and thresholds.

The cases default to tests/eval/seed_qa.jsonl over an index of seeds/ built for the session.
Point the same tests at other data with ``--eval-cases FILE --eval-index DIR`` (or
QA_EVAL_CASES / QA_EVAL_INDEX); a case may carry "xfail": "reason" for a known miss. Scoring
is ``qa.eval.evaluate``, the same as ``python -m qa eval``. ``--eval-judge`` (or
QA_EVAL_JUDGE=1) adds the LLM judge, configured like ``python -m qa eval --judge``
(QA_JUDGE_MODEL or QA_LLM_MODEL, OPENAI_BASE_URL / OPENAI_API_KEY), and its thresholds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qa import Assistant, Settings
from qa.eval import Case, EvalRun, Judge, evaluate, load_cases, make_judge
from qa.eval.judge import NO_JUDGE
from qa.eval.report import terminal

from ..conftest import USER_ENV

SEED_CASES = Path(__file__).with_name("seed_qa.jsonl")
K = 10

# Aggregate thresholds: below these the suite fails even when every case has its own verdict.
MIN = {
    "key_fact_recall": 0.9,
    "citation_recall": 0.9,
    "citation_precision": 0.9,
    "hit_at_k": 0.95,
    "refusal_recall": 0.85,
    "refusal_precision": 0.85,
    "offsets_exact": 1.0,  # every checked citation is exactly its source's text
}
MAX = {"false_refusal_rate": 0.1}
# With --eval-judge. The judge is a model: it may slip on a few cases (an unreadable reply).
MIN_JUDGE = {"judge_faithfulness": 0.9, "judge_correctness": 0.85}
MAX_JUDGE_FAILURES = 0.1  # share of cases without a verdict


def _cases(config: pytest.Config) -> list[Case]:
    cases, _ = load_cases(config.getoption("--eval-cases") or SEED_CASES)
    return cases


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" in metafunc.fixturenames:
        metafunc.parametrize(
            "case",
            [
                pytest.param(
                    c,
                    id=c.id,
                    marks=[pytest.mark.xfail(reason=c.xfail, strict=True)] if c.xfail else [],
                )
                for c in _cases(metafunc.config)
            ],
        )


def _judge(config: pytest.Config) -> tuple[Judge | None, str]:
    """The LLM judge from the caller's environment when asked for, else why there is none."""
    if not config.getoption("--eval-judge"):
        return None, "LLM judge skipped: not asked for (--eval-judge or QA_EVAL_JUDGE=1)"
    with pytest.MonkeyPatch.context() as env:  # the tests' own environment is cleaned
        for key, value in USER_ENV.items():
            env.setenv(key, value)
        settings = Settings.load()
    judge = make_judge(settings)
    return judge, NO_JUDGE if judge is None else judge.name


@pytest.fixture(scope="module")
def run(request: pytest.FixtureRequest, embeddings: Any) -> EvalRun:
    index = request.config.getoption("--eval-index")
    index_dir = Path(index) if index else request.getfixturevalue("seed_index")
    judge, why = _judge(request.config)
    assistant = Assistant(Settings(index_dir=index_dir), embeddings=embeddings)
    try:
        return evaluate(assistant, _cases(request.config), k=K, judge=judge, meta={"judge": why})
    finally:
        assistant.index.close()


def test_case(run: EvalRun, case: Case) -> None:
    result = run.result(case.id)
    assert result.passed, f"{case.question!r}: {'; '.join(result.problems)}; got: {result.answer}"


def test_aggregate_figures(run: EvalRun) -> None:
    s = run.summary
    print("\n" + terminal(run.to_dict()))
    low = {k: s[k] for k, least in MIN.items() if s[k] is not None and s[k] < least}
    high = {k: s[k] for k, most in MAX.items() if s[k] is not None and s[k] > most}
    assert not low, f"below the thresholds {MIN}: {low}"
    assert not high, f"above the thresholds {MAX}: {high}"
    unchecked = [u for r in run.results for u in r.offsets_unchecked]
    assert not unchecked, f"citations whose source text could not be read: {unchecked[:5]}"
    assert s["errors"] == 0


def test_judge_figures(run: EvalRun) -> None:
    """With --eval-judge: the LLM judge's faithfulness and correctness, against thresholds."""
    judged = [r for r in run.results if r.judge is not None]
    if not judged:
        pytest.skip(run.meta["judge"])
    s = run.summary
    low = {k: s[k] for k, least in MIN_JUDGE.items() if s[k] is None or s[k] < least}
    notes = [f"{r.id}: {r.judge['notes']}" for r in judged if r.judge and r.judge["notes"]]
    assert not low, f"below the thresholds {MIN_JUDGE}: {low}; the judge's notes: {notes[:10]}"
    errors = [f"{r.id}: {e}" for r in judged if r.judge for e in r.judge["errors"]]
    assert s["judge_failures"] <= MAX_JUDGE_FAILURES * len(judged), errors[:10]
