"""The seam for an LLM judge: faithfulness and correctness of an answer, beyond string matching.

A judge is any callable ``judge(case, answer) -> Verdict``. ``evaluate`` calls it once per
case that was answered without error and adds the means to the figures
(``judge_faithfulness``, ``judge_correctness``); a score the judge could not give is None,
with the reason in ``errors``, and such cases are counted apart (``judge_failures``). Without
a judge those figures are None and the report says why (``NO_JUDGE``). The judge that asks
the configured OpenAI-compatible endpoint is ``llm_judge.LLMJudge``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..types import Answer
from .cases import Case

NO_JUDGE = (
    "LLM judge skipped: no judge LLM is configured (faithfulness and correctness not measured)"
)


@dataclass(frozen=True)
class Verdict:
    faithfulness: float | None  # share of the answer's claims its cited passages support
    correctness: float | None  # agreement of the answer with the expected facts, 0..1
    notes: str = ""  # the judge's reasons, for the report
    errors: list[str] = field(default_factory=list)  # why a score is None although it applies


class Judge(Protocol):
    name: str

    def __call__(self, case: Case, answer: Answer) -> Verdict: ...
