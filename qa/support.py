"""The check: how well each answer sentence is supported by the evidence rows it cites.

One scorer for every sentence: a logistic regression (qa/support_model.json, fitted by
``python -m bench.fit_support`` on labelled sentence-evidence pairs, figures in
docs/citecheck.md) over four numbers: the embedding similarity of the sentence and its best
cited row (or that row's own sentence, when it is quoted with the one before it); the share
of the sentence's words, weighted by their rarity in the table, that the cited rows hold; how
rare the rarest word they lack is; and how many words the sentence has (a bare name, "Patrick
Schroeder", is far from its row in meaning and still wholly in it). The one hand rule: a number the
sentence states that its cited rows do not hold fails it, in any language.

A sentence its cited rows do not support is located in the table: the shown row that supports
it best, when that one does, becomes its citation (a small model often names the wrong id;
what it copied is what it cites). A sentence supported nowhere is unsupported.
Not handled: a contradiction that keeps the evidence's words ("binding" for "non-binding"), or
a swapped name both rows contain; that needs an entailment model.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from ingest.text import terms

from .evidence import Evidence, Row, SentenceVectors
from .extractive_model import Model, load
from .reply import Claim

MODEL_PATH = Path(__file__).with_name("support_model.json")
FEATURES = ("similarity", "coverage", "rarest_missing", "words")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


@dataclass(frozen=True)
class Checked:
    claim: Claim
    rows: list[Row]  # the rows that support it (cited, or located); empty: unsupported
    score: float  # the scorer's probability that its rows support it


@cache
def load_scorer(path: Path = MODEL_PATH) -> Model:
    """The fitted scorer; its ``refusal`` field is the least probability that supports."""
    return load(path, FEATURES)


def numbers(text: str) -> frozenset[str]:
    return frozenset(n.replace(",", "") for n in _NUMBER.findall(text))


def idf_of(rows: Sequence[str]) -> dict[str, float]:
    """Each word's rarity among the given texts (the evidence table's rows)."""
    df = Counter(t for r in rows for t in set(terms(r)))
    return {t: math.log(1 + (len(rows) + 1) / (1 + c)) for t, c in df.items()}


def features(
    sentence: str, cited: Sequence[str], similarity: float, idf: dict[str, float]
) -> list[float]:
    """The scorer's inputs for ``sentence`` against the texts it cites (``FEATURES``)."""
    said = set(terms(sentence))
    held = {t for c in cited for t in terms(c)}
    unseen = max(idf.values(), default=1.0)  # a word no row has is as rare as any
    weight = {t: idf.get(t, unseen) for t in said}
    total = sum(weight.values())
    coverage = sum(weight[t] for t in said & held) / total if total else 0.0  # no words: none
    missing = max((weight[t] for t in said - held), default=0.0)
    return [similarity, coverage, missing / unseen if unseen else 0.0, math.log1p(len(said))]


def supports(
    sentence: str, cited: Sequence[str], similarity: float, idf: dict[str, float], scorer: Model
) -> float:
    """The probability that ``cited`` supports ``sentence`` (0 when it lacks a number)."""
    if numbers(sentence) - numbers(" ".join(cited)):
        return 0.0
    x = np.array([features(sentence, cited, similarity, idf)])
    return float(scorer.probabilities(x)[0])


def check(claims: Sequence[Claim], evidence: Evidence, vectors: SentenceVectors, scorer: Model
          ) -> list[Checked]:  # fmt: skip
    """Each claim with the rows that support it: those it cites when they do (less any that
    shares none of its words), else the shown row that does best, else none."""
    if not claims or not evidence.shown:
        return [Checked(c, [], 0.0) for c in claims]
    shown = evidence.shown
    idf = idf_of([r.text for r in evidence.rows])
    sims = _similarities([c.text for c in claims], shown, vectors)
    out = []
    for i, claim in enumerate(claims):
        cited = [n - 1 for n in claim.cites if 1 <= n <= len(shown)]
        best = max((float(sims[i, j]) for j in cited), default=0.0)
        score = supports(claim.text, [shown[j].text for j in cited], best, idf, scorer)
        if cited and score >= scorer.refusal:
            said = set(terms(claim.text))
            rows = [shown[j] for j in cited if said & set(terms(shown[j].text))]
            out.append(Checked(claim, rows or [shown[j] for j in cited], score))
            continue
        alone = [supports(claim.text, [r.text], float(sims[i, j]), idf, scorer)
                 for j, r in enumerate(shown)]  # fmt: skip
        j = int(np.argmax(alone))
        found = alone[j] >= scorer.refusal
        out.append(Checked(claim, [shown[j]] if found else [], alone[j] if found else score))
    return out


def _similarities(claims: list[str], rows: Sequence[Row], vectors: SentenceVectors) -> np.ndarray:
    """Claims x rows: the cosine of each claim and the row, or the row's own sentence when
    it is quoted with the sentence before it (the pair's meaning is diluted)."""
    sentences = [r.candidate.sentence for r in rows]
    m = vectors(claims + [r.text for r in rows] + sentences)
    c, k = len(claims), len(rows)
    return np.maximum(m[:c] @ m[c : c + k].T, m[:c] @ m[c + k :].T)
