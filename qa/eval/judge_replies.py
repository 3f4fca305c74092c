"""Reading a judge model's reply: the JSON its prompt asks for, found and read leniently.

Models wrap JSON in code fences, write a sentence before or after it, answer "yes" for true,
name the lists "claims" instead of "verdicts", or leave out the numbers of their verdicts (then
they count in order, if there is one per item). All of that is accepted. A reply with no JSON
object in it, or without a verdict for every item, is a ``ReplyError``: the score is then
unknown, never guessed.
Not handled: JSON with comments, single quotes or trailing commas (strict JSON only).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

_TRUE = frozenset("true yes y supported stated correct declines declined refuses".split())
# "partially" counts as no: a claim half supported still says something the passages do not.
_FALSE = frozenset(
    [
        *"false no n unsupported incorrect partial partially answers asserts".split(),
        *("not supported", "not stated", "partially supported", "partly supported"),
    ]
)
_LISTS = ("verdicts", "claims", "facts", "results", "items", "judgments", "judgements")
_NUMBERED = re.compile(r"[(#\[]?\s*(?:[a-z]+\s*#?)?(\d+)[)\].:]?", re.I)
_REPLY_SHOWN = 120  # characters of a bad reply quoted in its error


class ReplyError(ValueError):
    """The reply does not hold the verdicts asked for; the message says what is wrong."""


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= _REPLY_SHOWN else text[: _REPLY_SHOWN - 1] + "…")


def json_in(reply: str) -> dict[str, Any] | list[Any]:
    """The first JSON object, or array of objects, in ``reply``."""
    decoder = json.JSONDecoder()
    # subtle: try every "{" and "[" in turn, so that prose such as "claim [1] holds" before
    # the JSON is skipped rather than read as the array [1].
    for m in re.finditer(r"[{\[]", reply):
        try:
            value, _ = decoder.raw_decode(reply, m.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) or (
            isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
        ):
            return value
    if not reply.strip():
        raise ReplyError("the judge's reply was empty")
    raise ReplyError(f"the judge's reply holds no JSON object: {_clip(reply)}")


def truth(value: Any) -> bool | None:
    """``value`` as a yes or no (true, "yes", "supported", 1, …); None when it is neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = " ".join(value.lower().replace("_", " ").split()).strip(" .!")
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    return None


def _flag(item: dict[str, Any], keys: Sequence[str]) -> bool | None:
    for key in keys:
        if key in item and (value := truth(item[key])) is not None:
            return value
    return None


def _number(item: dict[str, Any], keys: Sequence[str]) -> int | None:
    for key in keys:
        value = item.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            return value
        # "1", "(1)", "#1", "claim 1"; not a claim's text that happens to hold a number
        if isinstance(value, str) and (digits := _NUMBERED.fullmatch(value.strip())):
            return int(digits.group(1))
    return None


def _items(data: dict[str, Any] | list[Any], flags: Sequence[str]) -> list[Any]:
    if isinstance(data, list):
        return data
    for key in _LISTS:
        if isinstance(data.get(key), list):
            return list(data[key])
    lists = [v for v in data.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
    if lists:
        return lists[0]
    return [data] if any(f in data for f in flags) else []  # one item, not in a list


def verdicts(reply: str, count: int, what: str, flags: Sequence[str]) -> list[tuple[bool, str]]:
    """(verdict, reason) for items 1..``count`` (``what``: "claim", "fact") from the reply."""
    numbered: dict[int, tuple[bool, str]] = {}
    in_order: list[tuple[bool, str]] = []
    for item in _items(json_in(reply), flags):
        if not isinstance(item, dict):
            continue
        verdict = _flag(item, flags)
        if verdict is None:
            continue
        reason = str(item.get("reason") or item.get("explanation") or "").strip()
        n = _number(item, (what, "n", "id", "number", "index", f"{what}_id", f"{what}_number"))
        if n is None:
            in_order.append((verdict, reason))
        elif 1 <= n <= count:
            numbered.setdefault(n, (verdict, reason))
    if not numbered and in_order:
        if len(in_order) == count:
            return in_order
        raise ReplyError(
            f"the judge's reply has {len(in_order)} unnumbered verdict(s) for {count} "
            f"{what}(s): {_clip(reply)}"
        )
    missing = [n for n in range(1, count + 1) if n not in numbered]
    if missing:
        which = ", ".join(map(str, missing))
        raise ReplyError(
            f"the judge's reply has no verdict for {what} {which} of {count}: {_clip(reply)}"
        )
    return [numbered[n] for n in range(1, count + 1)]


def verdict(reply: str, flags: Sequence[str]) -> tuple[bool, str]:
    """One (verdict, reason) from a reply such as ``{"declines": true, "reason": "…"}``."""
    data = json_in(reply)
    item = data if isinstance(data, dict) else data[0]
    value = _flag(item, flags)
    if value is None:
        names = " or ".join(repr(f) for f in flags)
        raise ReplyError(f"the judge's reply has no true/false {names}: {_clip(reply)}")
    return value, str(item.get("reason") or "").strip()
