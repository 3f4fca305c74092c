"""Thumbs up or down on an answer, kept as evaluation cases (``qa/eval/cases.py``) in JSONL.

Each rated answer is one line of ``<index folder>/feedback.jsonl``, in the case schema, so the
file runs as it is: ``python -m qa eval .qa_index/feedback.jsonl``.

- thumbs up on an answer: its cited sources and quotes become ``expected_sources`` and
  ``expected_quotes`` (a regression case: the same evidence should keep being cited);
- thumbs up on a refusal: ``unanswerable``;
- thumbs down: the question and conversation, tagged ``thumbs-down``; on a refusal that is
  already a failing case (an answerable question refused); on an answer, add the ``expected``
  facts (or ``unanswerable``) to make it one.

What was shown goes in a ``feedback`` field of its own (the case reader names it and ignores
it). Rating the same answer again replaces its line; withdrawing the rating removes it, so
ids stay unique and the file stays a valid case file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .assistant import Message
from .eval.cases import parse_case
from .types import Answer

FEEDBACK_FILE = "feedback.jsonl"
UP, DOWN = "thumbs-up", "thumbs-down"


def feedback_case(
    case_id: str, question: str, history: Sequence[Message], answer: Answer, liked: bool
) -> dict[str, Any]:
    """The JSON object of one rated answer: a valid evaluation case plus what was shown."""
    data: dict[str, Any] = {
        "id": case_id,
        "question": question,
        "tags": ["feedback", UP if liked else DOWN],
    }
    if history:
        data["history"] = [{"role": m["role"], "content": m["content"]} for m in history]
    if liked and answer.refused:
        data["unanswerable"] = True
    elif liked:
        data["expected_sources"] = list(dict.fromkeys(c.source for c in answer.citations))
        data["expected_quotes"] = list(dict.fromkeys(c.quote for c in answer.citations))
    case, problems, _ = parse_case(data, 0)
    if case is None:  # only a question no case may hold (e.g. empty) gets here
        raise ValueError(f"this answer cannot be kept as a case: {'; '.join(problems)}")
    return case.to_dict() | {
        "feedback": {
            "rating": UP if liked else DOWN,
            "answer": answer.text,
            "refused": answer.refused,
            "mode": answer.mode,
            "query": answer.query,
            "notice": answer.notice,
            "unsupported": answer.unsupported,
            "citations": [
                {"n": c.n, "source": c.source, "page": c.page, "quote": c.quote}
                for c in answer.citations
            ],
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
    }


class FeedbackLog:
    """The feedback file of one index; safe to use from the web app's threads."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def put(self, entry: dict[str, Any]) -> None:
        """Add a rated answer, or replace the line of the same id."""
        with self._lock:
            self._write([e for e in self._read() if e.get("id") != entry["id"]] + [entry])

    def remove(self, case_id: str) -> None:
        with self._lock:
            kept = [e for e in self._read() if e.get("id") != case_id]
            self._write(kept)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return self._read()

    def _read(self) -> list[dict[str, Any]]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        # A line someone broke by hand is kept as it is rather than lost.
        out = []
        for line in lines:
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    out.append({"_raw": line})
        return out

    def _write(self, entries: list[dict[str, Any]]) -> None:
        """All lines at once (a temporary file renamed over the old one): never half written."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(
            (e["_raw"] if "_raw" in e else json.dumps(e, ensure_ascii=False)) + "\n"
            for e in entries
        )
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".feedback-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
