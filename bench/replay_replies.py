"""An evaluation re-run on the model replies an earlier one recorded: the check, not the model.

    python -m qa eval CASES --mode llm --report out/before         # the model writes (slow)
    python -m bench.replay_replies CASES out/before/report.json --report out/after  # a minute

Every case is asked again through the whole answer path (search, refusal gate, citation
check, quoted fallback, scores); where the model would be asked, the reply it gave in the
earlier run (``reply`` in its report.json) comes back instead. So a change to the check or
the gate is measured on real replies in a minute, where the model takes ~15 s an answer on 2
cores. Valid only while what the model is shown is unchanged: a change to the prompt, the
retrieval or the evidence shown needs the model run again (a recorded run whose settings of
that kind, ``SHOWN``, or prompt files differ from these is refused; the gate's and the
check's thresholds may differ, which is what a replay is for). A case whose model is asked
now but was not then (gated, or it failed) gets an
empty reply (a quoted answer); their number is printed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from qa import Assistant, Settings, prompts
from qa.eval import evaluate, load_cases
from qa.eval.report import terminal, write


class RecordedReplies(BaseChatModel):
    """Answers with what was recorded for the exact question its prompt asks: the reply, for
    an answer prompt ("Question: …"); the standalone question a follow-up was rewritten
    into, for a condense prompt ("Last question: …")."""

    replies: dict[str, str]  # question as searched -> the model's reply
    queries: dict[str, str]  # follow-up -> the standalone question it was rewritten into
    unrecorded: list[str] = Field(default_factory=list)  # questions asked without a record

    @property
    def _llm_type(self) -> str:
        return "recorded-replies"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        prompt = str(messages[-1].content)
        if follow_up := _CONDENSED.search(prompt):
            asked, recorded = follow_up.group(1).strip(), self.queries
        elif question := _ASKED.search(prompt):
            asked, recorded = question.group(1).strip(), self.replies
        else:
            raise ValueError(f"not a prompt of this project: {prompt[:200]!r}")
        text = recorded.get(asked)
        if text is None:
            self.unrecorded.append(asked)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text or ""))])


# The question lines of prompts/answer.yaml and prompts/condense.yaml.
_ASKED = re.compile(r"^Question: (.*)$", re.M)
_CONDENSED = re.compile(r"^Last question: (.*)$", re.M)


def recorded_replies(report: dict[str, Any]) -> RecordedReplies:
    cases = report["cases"]
    replies = {c["query"] or c["question"]: c["reply"] for c in cases if c.get("reply")}
    # A follow-up's rewriting is recorded whatever became of its answer (gated, failed).
    queries = {c["question"]: c["query"] for c in cases if c.get("query")}
    return RecordedReplies(replies=replies, queries=queries)


# Settings that change what the model is shown or how it writes: a replay with other values
# would check replies against evidence the model never read. The rest (the gate, the
# thresholds) may differ: that is what a replay measures.
SHOWN = (
    "index_dir", "embedding_model", "chunk_tokens", "chunk_overlap_tokens", "reranker", "top_k",
    "extractive_model", "llm_evidence_chars", "prompts_dir", "llm_model", "local_model",
    "llm_temperature", "llm_max_tokens",
)  # fmt: skip


def _same_setup(recorded: dict[str, Any], settings: Settings) -> list[str]:
    """What differs between the recorded run's settings and these, of those the model's
    replies depend on (``SHOWN``)."""
    meta = recorded.get("meta", {})
    then, now = meta.get("settings", {}), settings.model_dump()
    changed = [
        f"{k}: {then[k]} then, {now[k]} now"
        for k in SHOWN
        if k in then and k in now and str(then[k]) != str(now[k])
    ]
    # Runs recorded before the prompts' hash was kept are taken at their word.
    if "prompts" in meta and meta["prompts"] != (
        digest := prompts.digest(directory=settings.prompts_dir)
    ):
        changed.append(f"prompt files: {meta['prompts']} then, {digest} now")
    return changed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("cases", type=Path, help="the cases file the earlier evaluation ran")
    p.add_argument("recorded", type=Path, help="its report.json, with the model's replies")
    p.add_argument("--report", type=Path, help="write report.json and report.md here")
    args = p.parse_args(argv)
    recorded = json.loads(args.recorded.read_text(encoding="utf-8"))
    model = recorded_replies(recorded)
    if not model.replies:
        raise SystemExit(f"{args.recorded}: no model replies recorded (an extractive run?)")
    settings = Settings.load().model_copy(update={"answer_mode": "llm"})
    if changed := _same_setup(recorded, settings):
        raise SystemExit(f"{args.recorded} was run with other settings: {'; '.join(changed)}")
    cases, warnings = load_cases(args.cases)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    known = {c["id"] for c in recorded["cases"]}
    if missing := [c.id for c in cases if c.id not in known]:
        print(f"warning: {len(missing)} cases not in {args.recorded}", file=sys.stderr)
    assistant = Assistant(settings, chat_model=model)
    k = int(recorded.get("meta", {}).get("k", 10))  # retrieval scored as it was then
    report = evaluate(assistant, cases, k=k, meta={"replayed": str(args.recorded)}).to_dict()
    print(terminal(report))
    print(f"\nreplies recorded: {len(model.replies)}; asked without one: {len(model.unrecorded)}")
    if args.report:
        write(report, args.report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
