"""The LLM judge: faithfulness and correctness of each answer, asked of a chat model.

- **Faithfulness**: the answer's sentences (claims), each with the citations it gives, and the
  cited quotes with the passages around them go to the model (prompts/judge_faithfulness.yaml),
  which says per claim whether its passages support it. Score: the share supported.
- **Correctness**: the case's expected facts (else its expected quotes) and the answer go to
  the model (prompts/judge_correctness.yaml), which says per fact whether the answer states it,
  in any words. Score: the share stated (1 or 0 with ``match: any``). For an unanswerable case
  the model says whether the answer declines (prompts/judge_refusal.yaml): 1 if it does.

Decided without asking: a refusal makes no claims (faithfulness not measured), is wrong for an
answerable case and right for an unanswerable one; claims that cite nothing at all are
unfaithful; a case with no expected facts or quotes has no correctness.

Each call has its own deadline (``QA_JUDGE_TIMEOUT``) with the LLM path's retries
(qa/faults.py). A failed call (timeout, server error, a reply without the verdicts) leaves its
score None and says why in ``Verdict.errors``; the evaluation goes on. After
``GIVE_UP_AFTER`` calls in a row that reached no model, the rest are not tried: a dead
endpoint would otherwise cost the timeout twice per case.
Not handled: claims that need splitting further; a prompt longer than the model's context.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from ingest.settings import SettingsError
from ingest.text import sentence_spans

from ..faults import Deadline, LLMUnavailable, within_deadline
from ..llm import make_chat_model, text_chain, with_timeout
from ..prompts import prompt_path, render
from ..settings import Settings
from ..types import Answer, Citation
from .cases import Case
from .judge import Verdict
from .judge_replies import ReplyError, verdict, verdicts

PROMPTS = ("judge_faithfulness", "judge_correctness", "judge_refusal")
GIVE_UP_AFTER = 3  # calls in a row that reached no model
_MARKER = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")
_FENCE = re.compile(r"<{3,}|>{3,}")  # the prompts fence data between <<<NAME and NAME>>>


class _Failed(Exception):
    """One judge call gave no verdict; the message says why."""


def judge_model_name(settings: Settings) -> str | None:
    return settings.judge_model or settings.llm_model


def make_judge(settings: Settings, model: BaseChatModel | None = None) -> LLMJudge | None:
    """The judge on the configured endpoint (``QA_JUDGE_MODEL``, else ``QA_LLM_MODEL``).

    None when no model is named; ``SettingsError`` when one is, but no endpoint or key.
    """
    name = judge_model_name(settings)
    if model is None:
        if not name:
            return None
        if not settings.openai_api_key and not settings.openai_base_url:
            raise SettingsError(
                f"the judge model is {name!r}, but neither OPENAI_API_KEY (for OpenAI) nor "
                "OPENAI_BASE_URL (for your own server) is set"
            )
        # The answer path's builder, with the judge's model; a judge should not sample.
        model = make_chat_model(
            settings.model_copy(update={"llm_model": name, "llm_temperature": 0.0})
        )
    where = settings.openai_base_url or "OpenAI"
    return LLMJudge(
        model,
        name=f"LLM judge: {name or type(model).__name__} ({where})",
        timeout=settings.judge_timeout,
        retries=settings.llm_max_retries,
        prompts_dir=settings.prompts_dir,
    )


def _data(text: str) -> str:
    """Text that cannot close a prompt's fence early, on one line."""
    return " ".join(_FENCE.sub(lambda m: m.group(0)[:2], text).split())


def _unmarked(text: str) -> str:
    return _data(_MARKER.sub("", text))


class LLMJudge:
    """A ``Judge`` (qa/eval/judge.py) that asks a chat model, one call per score."""

    def __init__(
        self,
        model: BaseChatModel,
        *,
        name: str = "LLM judge",
        timeout: float = 60.0,
        retries: int = 2,
        prompts_dir: Path | None = None,
    ):
        for prompt in PROMPTS:  # a missing prompt file is an error now, not once per case
            prompt_path(prompt, prompts_dir)
        self.model = model
        self.name = name
        self.timeout = timeout
        self.retries = retries
        self.prompts_dir = prompts_dir
        self.calls = 0  # calls made (attempts and retries not counted)
        self._unreachable = 0  # calls in a row that reached no model
        self._given_up = ""  # why the judge stopped asking

    def __call__(self, case: Case, answer: Answer) -> Verdict:
        notes: list[str] = []
        errors: list[str] = []
        scores: list[float | None] = []
        for part in (self._faithfulness, self._correctness):
            try:
                score, note = part(case, answer)
            except _Failed as failure:
                score, note = None, ""
                errors.append(f"{part.__name__.strip('_')}: {failure}")
            scores.append(score)
            if note:
                notes.append(note)
        return Verdict(scores[0], scores[1], "; ".join(notes), errors)

    def _faithfulness(self, case: Case, answer: Answer) -> tuple[float | None, str]:
        if answer.refused:
            return None, ""
        by_n = {c.n: c for c in answer.citations}
        claims = _claims(answer.text)
        if not claims:
            return None, ""
        cites = [[n for n in dict.fromkeys(numbers) if n in by_n] for _, numbers in claims]
        if not by_n:
            return 0.0, f"{len(claims)} claim(s), no citation"
        reply = self._ask(
            "judge_faithfulness",
            question=_data(case.question),
            claims=[
                {"n": n, "text": _data(text), "cites": cited}
                for n, ((text, _), cited) in enumerate(zip(claims, cites, strict=True), 1)
            ],
            passages=[self._cited(c, answer) for c in answer.citations],
        )
        found = self._read(verdicts, reply, len(claims), "claim", ("supported",))
        unsupported = [
            f"unsupported: “{text}”" + (f" ({why})" if why else "")
            for (text, _), (ok, why) in zip(claims, found, strict=True)
            if not ok
        ]
        return sum(ok for ok, _ in found) / len(found), "; ".join(unsupported)

    @staticmethod
    def _cited(c: Citation, answer: Answer) -> dict[str, Any]:
        """A citation for the prompt, with the retrieved passage around its quote."""
        around = next(
            (
                p.text
                for p in answer.passages
                if p.source == c.source and p.page == c.page and p.start <= c.start < c.end <= p.end
            ),
            "",
        )
        context = "" if _data(around) == _data(c.quote) else _data(around)
        source = c.source if c.page is None else f"{c.source}, p. {c.page}"
        return {"n": c.n, "source": _data(source), "quote": _data(c.quote), "passage": context}

    def _correctness(self, case: Case, answer: Answer) -> tuple[float | None, str]:
        if case.unanswerable:
            if answer.refused:
                return 1.0, ""
            reply = self._ask(
                "judge_refusal", question=_data(case.question), answer=_unmarked(answer.text)
            )
            declines, why = self._read(verdict, reply, ("declines", "declined", "refuses"))
            note = "" if declines else "answers a question the documents do not answer"
            return float(declines), note + (f" ({why})" if note and why else "")
        facts = case.expected or case.expected_quotes
        if not facts:
            return None, ""
        if answer.refused:
            return 0.0, "refused an answerable question"
        reply = self._ask(
            "judge_correctness",
            question=_data(case.question),
            facts=[{"n": n, "text": _data(f)} for n, f in enumerate(facts, 1)],
            answer=_unmarked(answer.text),
        )
        found = self._read(verdicts, reply, len(facts), "fact", ("stated", "correct", "present"))
        missing = [
            f"not stated: “{f}”" + (f" ({why})" if why else "")
            for f, (ok, why) in zip(facts, found, strict=True)
            if not ok
        ]
        stated = [ok for ok, _ in found]
        score = float(any(stated)) if case.match == "any" else sum(stated) / len(stated)
        return score, "; ".join(missing) if score < 1 else ""

    @staticmethod
    def _read(parse: Any, reply: str, *args: Any) -> Any:
        try:
            return parse(reply, *args)
        except ReplyError as err:
            raise _Failed(str(err)) from None

    def _ask(self, prompt: str, **variables: Any) -> str:
        """The model's reply to the prompt; ``_Failed`` when there is none in time."""
        # Rendered before the call: a broken prompt file is an error (PromptError), not a fault.
        messages = render(prompt, self.prompts_dir, **variables)
        if self._given_up:
            raise _Failed(self._given_up)
        self.calls += 1

        def call(timeout: float) -> Iterator[str]:
            yield text_chain(with_timeout(self.model, timeout)).invoke(messages)

        try:
            reply = "".join(within_deadline(call, Deadline(self.timeout), self.retries))
        except LLMUnavailable as err:
            self._unreachable += 1
            if self._unreachable >= GIVE_UP_AFTER:
                self._given_up = (
                    f"not asked: the judge model failed {self._unreachable} times in a row "
                    f"(last: {err.reason})"
                )
            raise _Failed(f"the judge model gave no reply: {err.reason}") from None
        self._unreachable = 0
        return reply


_MARK = re.compile(r"\[(\d+)\]")


def _claims(text: str) -> list[tuple[str, list[int]]]:
    """The answer's sentences, each with the citation numbers it gives; markers opening a
    sentence or standing alone ("… processing. [1] The …") belong to the sentence before."""
    out: list[tuple[str, list[int]]] = []
    for a, b in sentence_spans(text):
        piece = text[a:b]
        lead = re.match(r"(?:\s*\[\d+\])+", piece)
        if lead and out:
            out[-1][1].extend(int(n) for n in _MARK.findall(lead.group(0)))
            piece = piece[lead.end() :]
        words = " ".join(_MARK.sub(" ", piece).split()).replace(" .", ".")
        if re.search(r"\w", words):
            out.append((words, [int(n) for n in _MARK.findall(piece)]))
    return out
