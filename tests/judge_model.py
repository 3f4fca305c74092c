"""A stand-in judge model for the scripted server: it answers the judge prompts by reading them.

It reads the claims and cited passages (or the expected facts and the answer) back out of the
request, and decides by shared words: a claim is supported when nearly all of its words are in
the passages it cites; a fact is stated when the answer holds nearly all of its words; an answer
declines when it says the documents do not answer. Crude, but its verdicts follow what was
sent, so a test sees whether the right claims and passages reached the model.

    server.default = judging        # or server.script(judging, ...)
"""

from __future__ import annotations

import json
import re
from typing import Any

from .llm_server import Reply, Scripted, last_user

_SHARE = 0.8  # of a claim's (fact's) words that must be found
_DECLINES = re.compile(r"do(?:es)? not answer|not in the documents|cannot tell", re.I)


def _words(text: str) -> set[str]:
    found = re.findall(r"\$?[a-z0-9]+(?:\.[0-9]+)?", text.lower().replace(",", ""))
    return {w for w in found if len(w) > 2}


def _covered(text: str, source: str) -> bool:
    words = _words(text)
    return bool(words) and len(words & _words(source)) >= _SHARE * len(words)


def _block(text: str, name: str) -> str:
    match = re.search(rf"<<<{name}\n(.*?)\n?{name}>>>", text, re.S)
    return match.group(1) if match else ""


def claims_in(body: dict[str, Any]) -> list[tuple[int, str, list[int]]]:
    """(n, claim, cited passage numbers) of a faithfulness request."""
    found = re.findall(r"^\((\d+)\) (.*) \(cites: (.*)\)$", _block(last_user(body), "CLAIMS"), re.M)
    return [(int(n), text, [int(x) for x in re.findall(r"\d+", cites)]) for n, text, cites in found]


def cited_in(body: dict[str, Any]) -> dict[int, str]:
    """{n: quote and context} of a faithfulness request."""
    block = _block(last_user(body), "PASSAGES")
    heads = list(re.finditer(r"^\[(\d+)\] \(.*?\) ", block, re.M))
    return {
        int(h.group(1)): block[h.end() : nxt.start() if nxt else len(block)].strip()
        for h, nxt in zip(heads, [*heads[1:], None], strict=True)
    }


def facts_in(body: dict[str, Any]) -> list[tuple[int, str]]:
    part = last_user(body).split("Expected facts:")[-1].split("Answer:")[0]
    return [(int(n), text) for n, text in re.findall(r"^\((\d+)\) (.*)$", part, re.M)]


def answer_in(body: dict[str, Any]) -> str:
    return _block(last_user(body), "ANSWER")


def kind(body: dict[str, Any]) -> str:
    """Which judge prompt a request is: faithfulness, correctness or refusal ("" if none)."""
    user = last_user(body)
    if "<<<CLAIMS" in user:
        return "faithfulness"
    if "Expected facts:" in user:
        return "correctness"
    return "refusal" if "<<<ANSWER" in user else ""


def judging(body: dict[str, Any]) -> Scripted:
    """The stand-in judge's verdicts, as JSON (see the module's docstring)."""
    what = kind(body)
    if what == "faithfulness":
        passages = cited_in(body)
        out = []
        for n, claim, cites in claims_in(body):
            source = " ".join(passages[c] for c in cites) if cites else " ".join(passages.values())
            ok = _covered(claim, source)
            out.append({"claim": n, "supported": ok, "reason": "in the passage" if ok else "not"})
        return Reply(json.dumps({"verdicts": out}))
    if what == "correctness":
        answer = answer_in(body)
        out = [
            {"fact": n, "stated": _covered(fact, answer), "reason": "compared"}
            for n, fact in facts_in(body)
        ]
        return Reply(json.dumps({"verdicts": out}))
    if what == "refusal":
        declines = bool(_DECLINES.search(answer_in(body)))
        return Reply(json.dumps({"declines": declines, "reason": "read the answer"}))
    return Reply("not a judge prompt")
