"""Evaluation cases: one JSON object a line, validated with the line number of every mistake.

Fields (only ``question`` is required)::

    id                 unique name of the case (default: "line-N")
    question           what is asked
    history            earlier turns, [{"role": "user" | "assistant", "content": "..."}]
    expected           key facts the answer should contain (a string or a list)
    match              "all" (default): every fact is needed; "any": one of them will do
    expected_sources   source names (paths relative to the ingested folder) that answer it
    expected_quotes    passages of those sources that answer it, verbatim
    unanswerable       true when the documents do not answer: the answer should be a refusal
    tags               labels for the per-tag breakdown
    xfail              the reason of a known miss (pytest expects this case to fail)

Unknown fields are kept out of the case but reported, so a typo ("expected_quote") is seen
and a feedback file may carry notes of its own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Message = dict[str, str]

KNOWN_FIELDS = frozenset(
    "id question history expected match expected_sources expected_quotes unanswerable tags "
    "xfail".split()
)


class CaseFileError(ValueError):
    """A case file that cannot be read; the message lists every problem with its line."""


@dataclass(frozen=True)
class Case:
    id: str
    question: str
    history: tuple[Message, ...] = ()
    expected: tuple[str, ...] = ()
    match: Literal["all", "any"] = "all"
    expected_sources: tuple[str, ...] = ()
    expected_quotes: tuple[str, ...] = ()
    unanswerable: bool = False
    tags: tuple[str, ...] = ()
    xfail: str | None = None
    line: int = field(default=0, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The case as a JSONL line would hold it, without the fields left at their default."""
        data: dict[str, Any] = {"id": self.id, "question": self.question}
        if self.history:
            data["history"] = list(self.history)
        if self.expected:
            data["expected"] = list(self.expected)
            data["match"] = self.match
        if self.expected_sources:
            data["expected_sources"] = list(self.expected_sources)
        if self.expected_quotes:
            data["expected_quotes"] = list(self.expected_quotes)
        if self.unanswerable:
            data["unanswerable"] = True
        if self.tags:
            data["tags"] = list(self.tags)
        if self.xfail:
            data["xfail"] = self.xfail
        return data


def _strings(data: dict[str, Any], key: str, problems: list[str]) -> tuple[str, ...]:
    value = data.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(f"{key!r} must be a list of non-empty strings")
        return ()
    return tuple(v.strip() for v in value)


def _history(value: Any, problems: list[str]) -> tuple[Message, ...]:
    ok = isinstance(value, list) and all(
        isinstance(m, dict)
        and m.get("role") in ("user", "assistant")
        and isinstance(m.get("content"), str)
        for m in value
    )
    if not ok:
        problems.append(
            '\'history\' must be a list of {"role": "user"|"assistant", "content": str}'
        )
        return ()
    return tuple({"role": m["role"], "content": m["content"]} for m in value)


def parse_case(data: Any, line: int) -> tuple[Case | None, list[str], list[str]]:
    """A case from one decoded line: (case or None, problems, unknown field names)."""
    if not isinstance(data, dict):
        return None, ["not a JSON object"], []
    problems: list[str] = []
    question = data.get("question")
    if not isinstance(question, str) or not question.strip():
        problems.append("'question' is missing or empty")
    case_id = data.get("id", f"line-{line}")
    if not isinstance(case_id, str | int) or not str(case_id).strip():
        problems.append("'id' must be a non-empty string")
    match = data.get("match", "all")
    if match not in ("all", "any"):
        problems.append(f'\'match\' must be "all" or "any", not {match!r}')
    unanswerable = data.get("unanswerable", False)
    if not isinstance(unanswerable, bool):
        problems.append("'unanswerable' must be true or false")
    xfail = data.get("xfail")
    if xfail is not None and not (isinstance(xfail, str) and xfail.strip()):
        problems.append("'xfail' must be the reason of the known miss, as text")
    expected = _strings(data, "expected", problems)
    sources = _strings(data, "expected_sources", problems)
    quotes = _strings(data, "expected_quotes", problems)
    tags = _strings(data, "tags", problems)
    history = _history(data["history"], problems) if "history" in data else ()
    if unanswerable is True and (expected or sources or quotes):
        problems.append("an unanswerable case cannot expect facts, sources or quotes")
    unknown = sorted(set(data) - KNOWN_FIELDS)
    if problems:
        return None, problems, unknown
    case = Case(
        id=str(case_id).strip(),
        question=str(question).strip(),
        history=history,
        expected=expected,
        match=match,
        expected_sources=sources,
        expected_quotes=quotes,
        unanswerable=bool(unanswerable),
        tags=tags,
        xfail=xfail.strip() if xfail else None,
        line=line,
    )
    return case, [], unknown


def load_cases(path: str | Path) -> tuple[list[Case], list[str]]:
    """The cases of a JSONL file and warnings (unknown fields); CaseFileError on any mistake."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise CaseFileError(f"no case file at {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CaseFileError(f"cannot read {path}: {err}") from None
    cases: list[Case] = []
    errors: list[str] = []
    unknown: dict[str, list[int]] = {}
    seen: dict[str, int] = {}
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            errors.append(f"{path}:{number}: not valid JSON ({err.msg}, column {err.colno})")
            continue
        try:  # an escape such as "\ud800" decodes to text no encoder takes
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as err:
            errors.append(
                f"{path}:{number}: not valid Unicode text (a lone surrogate, "
                f"U+{ord(err.object[err.start]):04X})"
            )
            continue
        case, problems, extra = parse_case(data, number)
        errors += [f"{path}:{number}: {p}" for p in problems]
        for name in extra:
            unknown.setdefault(name, []).append(number)
        if case is None:
            continue
        if case.id in seen:
            errors.append(
                f"{path}:{number}: id {case.id!r} is already used on line {seen[case.id]}"
            )
            continue
        seen[case.id] = number
        cases.append(case)
    if errors:
        raise CaseFileError("\n".join(errors))
    if not cases:
        raise CaseFileError(f"{path} holds no cases")
    warnings = [
        f"{path}: unknown field {name!r} ignored (line{'s' if len(at) > 1 else ''} {_lines(at)})"
        for name, at in sorted(unknown.items())
    ]
    return cases, warnings


def _lines(numbers: Sequence[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:5])
    return shown + (f" and {len(numbers) - 5} more" if len(numbers) > 5 else "")


def write_cases(path: str | Path, cases: Sequence[Case]) -> None:
    """Cases as JSONL, one a line (the format ``load_cases`` reads)."""
    text = "".join(json.dumps(c.to_dict(), ensure_ascii=False) + "\n" for c in cases)
    Path(path).write_text(text, encoding="utf-8")
