"""An evaluation re-run on the model replies an earlier one recorded: the check, not the model.

    python -m qa eval CASES --mode llm --report out/before         # the model writes (slow)
    python -m bench.replay_replies CASES out/before/report.json --report out/after   # seconds

Every case is asked again through the whole answer path (search, refusal gate, citation
check, quoted fallback, scores); where the model would be asked, the reply it gave in the
earlier run (``reply`` in its report.json) comes back instead. So a change to the check or
the gate is measured on real replies in seconds, where the model takes ~15 s an answer on 2
cores. Valid only while what the model is shown is unchanged: a change to the prompt, the
retrieval or the passages' trimming needs the model run again. A case whose model is asked
now but was not then (gated, or it failed) gets an empty reply (a quoted answer); their
number is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from qa import Assistant, Settings
from qa.eval import evaluate, load_cases
from qa.eval.report import terminal, write


class RecordedReplies(BaseChatModel):
    """Answers with the reply recorded for the question the prompt holds (the longest one
    it contains: "Who won?" is inside "Who won in 2021?"); a condensed follow-up gets the
    standalone question recorded for it."""

    replies: dict[str, str]  # question -> the model's reply
    queries: dict[str, str]  # follow-up -> the standalone question it was condensed into
    unrecorded: list[str] = Field(default_factory=list)  # prompts that matched no question

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
        # A condense prompt shows the follow-up, not passages; an answer prompt, the query.
        text = _recorded(self.queries, prompt) or _recorded(self.replies, prompt)
        if text is None:
            self.unrecorded.append(prompt[-200:])
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text or ""))])


def _recorded(recorded: Mapping[str, str], prompt: str) -> str | None:
    found = [q for q in recorded if q and q in prompt]
    return recorded[max(found, key=len)] if found else None


def recorded_replies(report: dict[str, Any]) -> RecordedReplies:
    cases = report["cases"]
    replies = {c["query"] or c["question"]: c["reply"] for c in cases if c.get("reply")}
    queries = {
        c["question"]: c["query"]
        for c in cases
        if c.get("query") and c["query"] != c["question"] and c.get("reply")
    }
    return RecordedReplies(replies=replies, queries=queries)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("cases", type=Path, help="the cases file the earlier evaluation ran")
    p.add_argument("recorded", type=Path, help="its report.json, with the model's replies")
    p.add_argument("--report", type=Path, help="write report.json and report.md here")
    p.add_argument("--k", type=int, default=10, help="passages scored for retrieval")
    args = p.parse_args(argv)
    model = recorded_replies(json.loads(args.recorded.read_text(encoding="utf-8")))
    if not model.replies:
        raise SystemExit(f"{args.recorded}: no model replies recorded (an extractive run?)")
    cases, warnings = load_cases(args.cases)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    settings = Settings.load().model_copy(update={"answer_mode": "llm"})
    assistant = Assistant(settings, chat_model=model)
    report = evaluate(assistant, cases, k=args.k, meta={"replayed": str(args.recorded)}).to_dict()
    print(terminal(report))
    print(f"\nreplies recorded: {len(model.replies)}; asked without one: {len(model.unrecorded)}")
    if args.report:
        write(report, args.report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
