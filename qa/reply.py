"""The model's reply: the prompt that shows it the evidence, the grammar it writes in, and the
strict reading of what it wrote.

The model reads the evidence rows under their ids and answers in at most three sentences, each
ending with the ids of the rows it comes from ("It cost $40 million [3]."); a yes-or-no
question's answer opens with its verdict ("No. The agreements are non-binding [2]."); or it
replies NOT_IN_DOCUMENTS. The local model writes under a grammar that admits nothing else, ids
outside the table included (``grammar``); an endpoint that takes no grammar is held to the same
form when its reply is read (``parse``): a reply that is not in it is no answer (None), and
the caller quotes the documents instead.
Not handled: markers in other shapes ("(1)", superscripts); they make the reply invalid.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from langchain_core.messages import BaseMessage

from .evidence import Evidence
from .llm import messages_of, published
from .prompts import render

NOT_IN_DOCUMENTS = "NOT_IN_DOCUMENTS"
MAX_SENTENCES = 3
_REFUSAL = re.compile(r"\W*not[\s_]+in[\s_]+(?:the[\s_]+)?documents\W*", re.I)
_VERDICT = re.compile(r"\s*(yes|no)\b[.,!:;]?\s*", re.I)
# A sentence and its markers: text without brackets, then "[3]" or "[3][5]", then its stop.
_SENTENCE = re.compile(r"\s*([^\[\]\n]+?)\s*((?:\[\d+\]\s*)+)([.!?]?)(?=\s|$)")
_ID = re.compile(r"\[(\d+)\]")
_SHOWN_ID = re.compile(r"\s*\[\d+\]")
_FENCE = re.compile(r"<{3,}|>{3,}|\[(\d+)\]")


@dataclass(frozen=True)
class Claim:
    text: str  # the sentence without its markers, as the model wrote it
    cites: tuple[int, ...]  # evidence ids, in order, no repeats


@dataclass(frozen=True)
class Reply:
    claims: list[Claim]
    verdict: str = ""  # "Yes" or "No" for a yes-or-no question; "" otherwise
    refused: bool = False  # the model said the evidence does not answer


def messages(
    evidence: Evidence, yes_no: bool, prompts_dir: Path | None = None
) -> list[BaseMessage]:
    """The answer prompt: the question and the shown rows, grouped by passage, as fenced data."""
    groups: list[dict[str, object]] = []
    for n, row in enumerate(evidence.shown, 1):
        p = row.passage
        if not groups or groups[-1]["passage"] is not p:
            groups.append(
                {"passage": p, "title": _unfenced(p.title), "source": _unfenced(p.source),
                 "published": _unfenced(published(p)), "rows": []}
            )  # fmt: skip
        # One line a row: a sentence quoted with the one before it may span a paragraph break.
        text = " ".join(_unfenced(row.text).split())
        groups[-1]["rows"].append({"id": n, "text": text})  # type: ignore[attr-defined]
    return messages_of(
        render("answer", prompts_dir, question=evidence.question, groups=groups, yes_no=yes_no)
    )


def _unfenced(text: str) -> str:
    """Text that can neither close the evidence fence nor pass for a row: a document's own
    "[2]" becomes "(2)", so that every [n] the model sees is one of ours."""
    return _FENCE.sub(lambda m: f"({m.group(1)})" if m.group(1) else m.group(0)[:2], text)


def grammar(ids: int, yes_no: bool) -> str:
    """GBNF for a reply citing ids 1..``ids`` (llama.cpp's grammar format)."""
    choices = " | ".join(json.dumps(str(i)) for i in range(1, ids + 1)) or '"1"'
    verdict = '("Yes" | "No") ". " ' if yes_no else ""
    more = MAX_SENTENCES - 1
    return (
        f'root ::= "{NOT_IN_DOCUMENTS}" | {verdict}sentence (" " sentence){{0,{more}}}\n'
        'sentence ::= text " " cite cite? "."?\n'
        "text ::= [^\\[\\]\\n]{2,300}\n"
        'cite ::= "[" id "]"\n'
        f"id ::= {choices}\n"
    )


def parse(text: str, ids: int, yes_no: bool) -> Reply | None:
    """The reply read strictly; None when it is not in the asked form or cites an id outside
    1..``ids``. A sentence cut short by the length limit (no markers, no stop) is dropped."""
    if _REFUSAL.fullmatch(text):
        return Reply([], refused=True)
    rest, verdict = text.strip(), ""
    if yes_no and (m := _VERDICT.match(rest)):
        verdict, rest = m.group(1).capitalize(), rest[m.end() :]
    claims: list[Claim] = []
    pos = 0
    for m in _SENTENCE.finditer(rest):
        if rest[pos : m.start()].strip():
            return None  # text between sentences that cites nothing
        pos = m.end()
        cites = tuple(dict.fromkeys(int(i) for i in _ID.findall(m.group(2))))
        if not all(1 <= i <= ids for i in cites):
            return None
        said = m.group(1).strip() + m.group(3)
        if not _REFUSAL.search(said):  # a grammar admits NOT_IN_DOCUMENTS as a sentence too
            claims.append(Claim(said, cites))
    tail = rest[pos:].strip()
    # What follows the last marker is a sentence cut off by the length limit (dropped), unless
    # it is finished (a stop) and so cites nothing; or an unfinished marker.
    if tail and ("[" in tail or tail.endswith((".", "!", "?")) or not claims):
        return None
    if not claims:
        return Reply([], verdict, refused=True) if not verdict else None
    return Reply(claims, verdict)


def shown(text: str) -> str:
    """What the reader sees while the reply streams: the text without its (evidence) ids,
    which the checked answer replaces by its citations' numbers."""
    return _SHOWN_ID.sub("", text)


def settled(text: str) -> int:
    """How much of ``text`` can be shown now: not its trailing space, nor an unfinished
    marker, which may yet be an id to hide with the space before it."""
    end = len(text.rstrip())
    start = text.rfind("[", 0, end)
    if start >= 0 and "]" not in text[start:end]:
        end = len(text[:start].rstrip())
    return end


def may_refuse(text: str) -> bool:
    """The reply so far could still be NOT_IN_DOCUMENTS: nothing of it is shown yet."""
    return NOT_IN_DOCUMENTS.startswith(text.strip().upper().replace(" ", "_"))
