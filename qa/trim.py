"""Passages cut down to their sentences nearest the question, so that the model reads less.

On two CPU cores the local model reads its prompt at ~130 tokens a second, so the time to
the first word is mostly the passages: six whole passages are ~1,500 tokens, 12 s. Each
passage keeps its best sentence (by embedding similarity to the question), then the best of
all the rest join until the budget is spent; kept sentences stay in their order, and a gap
shows as "…". The citation check still reads whole passages, so a sentence the model did
not see can still support what it wrote. Budgets tried and their quality: README.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ingest.text import sentence_spans

from .citecheck import SentenceVectors
from .types import Passage

GAP = "…"


def trimmed(
    question: str, passages: Sequence[Passage], vectors: SentenceVectors, budget: int
) -> list[str]:
    """Each passage's text as the model gets it: at most ``budget`` characters in all
    (0: whole), never less than each passage's best sentence."""
    whole = [p.text for p in passages]
    if budget <= 0 or sum(len(t) for t in whole) <= budget:
        return whole
    spans = [sentence_spans(t) for t in whole]
    sentences = []  # (passage, start, end): a sentence once, in the first passage that has it
    seen: set[tuple[str, int | None, int, int]] = set()
    for i, found in enumerate(spans):
        p = passages[i]
        for a, b in found:
            key = (p.source, p.page, p.start + a, p.start + b)  # overlapping chunks repeat some
            if key not in seen:
                seen.add(key)
                sentences.append((i, a, b))
    if not sentences:
        return whole
    texts = [whole[i][a:b] for i, a, b in sentences]
    matrix = vectors([question, *texts])
    similarity = matrix[1:] @ matrix[0]
    order = np.argsort(-similarity, kind="stable")
    keep: set[int] = set()
    best_of: dict[int, int] = {}
    for j in order:  # each passage's best sentence first: every passage says something
        best_of.setdefault(sentences[j][0], int(j))
    keep.update(best_of.values())
    used = sum(len(texts[j]) for j in keep)
    for j in order:
        if int(j) not in keep and used + len(texts[j]) <= budget:
            keep.add(int(j))
            used += len(texts[j])
    out = []
    for i, text in enumerate(whole):
        kept = [(a, b) for k, (p, a, b) in enumerate(sentences) if p == i and k in keep]
        out.append(_joined(text, kept, spans[i]))
    return out


def _joined(text: str, kept: list[tuple[int, int]], spans: list[tuple[int, int]]) -> str:
    """The kept sentences in order, with "…" where sentences were left out (all of them: the
    passage repeats sentences an earlier one showed). Neighbours keep what stood between
    them (a heading's line break), so that a run of kept sentences is verbatim."""
    if not kept:
        return GAP
    position = {span: n for n, span in enumerate(spans)}
    out = ""
    previous, end = -1, 0
    for a, b in kept:
        n = position[(a, b)]
        if n > previous + 1:
            out += f" {GAP} " if out else f"{GAP} "
        elif out:
            out += text[end:a]
        out += text[a:b]
        previous, end = n, b
    if previous < len(spans) - 1:
        out += f" {GAP}"
    return out
