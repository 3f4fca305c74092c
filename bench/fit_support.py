"""Fit the check's scorer (qa/support.py) on labelled sentence-evidence pairs; report held out.

Two sources of pairs, each split into a part fitted on and a part only reported:
- bench/calibration/citecheck_cases.yaml: answer sentences written for this purpose against
  MultiHop-RAG passages, labelled supported or not by kind (split "calibrate" / "check");
- CLAP NQ (the tuning half): each sentence of an annotator's long-form answer against its
  gold passage (supported), and against the passage that shares most of its words among the
  others (not supported: on a near topic, not saying it). Folds 0-1 fitted, 2-4 reported;
- MultiHop-RAG: a query's short answer ("Sam Bankman-Fried", as a small model often answers)
  against an evidence fact that names it (supported) and one of the query's facts that does
  not (not supported); at most three pairs an answer. Dev split fitted, test reported.
A sentence is scored against its evidence's best single sentence or pair of adjacent ones,
as the check locates it. Sentences the number rule fails are left to that rule. The
threshold is chosen on the fitted part (best balanced accuracy) and saved as the model's
``refusal_threshold``.

    python -m bench.fit_support [--out qa/support_model.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from ingest.embeddings import make_embeddings
from ingest.text import sentence_spans, terms
from qa import Settings
from qa.evidence import SentenceVectors
from qa.support import FEATURES, MODEL_PATH, features, idf_of, numbers

from . import clapnq_data
from .fitting import auc, fit, save, with_thresholds
from .multihop_data import is_dev, queries

CASES = Path(__file__).with_name("calibration") / "citecheck_cases.yaml"
FITTED_FOLDS = (0, 1)
THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.01), 3)


@dataclass(frozen=True)
class Pair:
    sentence: str
    evidence: str  # the passage it is checked against
    supported: bool
    source: str  # "cases" or "clapnq"
    fitted: bool  # in the part fitted on
    kind: str = ""


def case_pairs(path: Path = CASES) -> list[Pair]:
    out = []
    for case in yaml.safe_load(path.read_text(encoding="utf-8")):
        for claim in case["claims"]:
            out.append(
                Pair(claim["sentence"], case["passage"], bool(claim["supported"]), "cases",
                     case["split"] == "calibrate", claim["kind"])
            )  # fmt: skip
    return out


def clapnq_pairs() -> list[Pair]:
    passages = {p["id"]: p["text"] for p in clapnq_data.passages()}
    bags = {k: Counter(terms(v)) for k, v in passages.items()}
    out = []
    for q in clapnq_data.questions():
        if q["unanswerable"] or not q.get("answer"):
            continue
        gold = q["passages"][0]
        fitted = clapnq_data.fold(q["id"]) in FITTED_FOLDS
        text = q["answer"]
        for a, b in sentence_spans(text):
            sentence = text[a:b]
            words = Counter(terms(sentence))
            if len(words) < 3:
                continue
            near = max((k for k in passages if k != gold), key=lambda k: _shared(words, bags[k]))
            out.append(Pair(sentence, passages[gold], True, "clapnq", fitted, "gold"))
            out.append(Pair(sentence, passages[near], False, "clapnq", fitted, "near"))
    return out


def multihop_pairs(per_answer: int = 3) -> list[Pair]:
    out = []
    taken: Counter[tuple[str, bool]] = Counter()
    for q in queries():
        answer, facts = q["answer"], [e["fact"] for e in q["evidence_list"]]
        if len(terms(answer)) == 0 or answer.lower() in ("yes", "no", "consistent"):
            continue
        held = [f for f in facts if answer.lower() in f.lower()]
        other = [f for f in facts if not set(terms(answer)) & set(terms(f))]
        key = (answer, is_dev(q["query"]))
        if not held or not other or taken[key] >= per_answer:
            continue
        taken[key] += 1
        out.append(Pair(answer, held[0], True, "multihop", key[1], "short"))
        out.append(Pair(answer, other[0], False, "multihop", key[1], "short"))
    return out


def _shared(a: Counter[str], b: Counter[str]) -> int:
    return sum((a & b).values())


def units(passage: str) -> list[tuple[str, ...]]:
    """The passage's sentences and adjacent pairs: what a sentence may be checked against (a
    row is a sentence, or one quoted with the sentence before it)."""
    singles = [passage[a:b] for a, b in sentence_spans(passage)]
    return [(x,) for x in singles] + list(itertools.pairwise(singles))


def table(pairs: Sequence[Pair], vectors: SentenceVectors) -> tuple[np.ndarray, np.ndarray]:
    """Each pair's features against its best unit (by the unweighted sum of the features); a
    pair of sentences is as similar as it, or either of its sentences, is."""
    pool = list(dict.fromkeys(t for p in pairs for u in units(p.evidence)[:40] for t in u))
    idf = idf_of(pool)
    every = {t for p in pairs for u in units(p.evidence) for t in (" ".join(u), *u)}
    vectors(sorted(every | {p.sentence for p in pairs}))  # one batch: remembered from here
    rows = []
    for p in pairs:
        claim = vectors([p.sentence])[0]
        scored = []
        for parts in units(p.evidence):
            similarity = float(np.max(vectors([" ".join(parts), *parts]) @ claim))
            scored.append(features(p.sentence, [" ".join(parts)], similarity, idf))
        rows.append(max(scored, key=lambda f: f[0] + f[1] - f[2]))
    return np.array(rows), np.array([float(p.supported) for p in pairs])


def balanced(p: np.ndarray, y: np.ndarray, t: float) -> float:
    return float(((p[y == 1] >= t).mean() + (p[y == 0] < t).mean()) / 2)


def report(name: str, p: np.ndarray, y: np.ndarray, t: float) -> None:
    print(
        f"{name:34} n={len(y):4}  AUC {auc(p[y == 1], p[y == 0]):.3f}  "
        f"supported passed {(p[y == 1] >= t).mean():.3f}  "
        f"unsupported failed {(p[y == 0] < t).mean():.3f}  balanced {balanced(p, y, t):.3f}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args(argv)
    pairs = case_pairs() + clapnq_pairs() + multihop_pairs()
    pairs = [p for p in pairs if not _number_rule(p)]
    vectors = SentenceVectors(make_embeddings(Settings()), size=10**6)
    x, y = table(pairs, vectors)
    fitted = np.array([p.fitted for p in pairs])
    weight = _balanced_weights(pairs, fitted)
    model = fit(x[fitted], y[fitted], FEATURES, sample_weight=weight)
    p = model.probabilities(x)
    threshold = max(THRESHOLDS, key=lambda t: (balanced(p[fitted], y[fitted], t), -t))
    model = with_thresholds(model, float(threshold), 0.5)
    weights = dict(zip(FEATURES, np.round(model.weights, 3).tolist(), strict=True))
    print(f"weights {weights}, threshold {threshold}")
    for part, mask in (("fitted on", fitted), ("held out", ~fitted)):
        for source in ("cases", "clapnq", "multihop"):
            m = mask & np.array([q.source == source for q in pairs])
            report(f"{source}, {part}", p[m], y[m], threshold)
    held = ~fitted & np.array([q.source == "cases" for q in pairs])
    by_kind: dict[str, list[int]] = defaultdict(list)
    for i, q in enumerate(pairs):
        if held[i]:
            by_kind[q.kind].append(i)
    for kind, idx in sorted(by_kind.items()):
        right = np.mean([(p[i] >= threshold) == y[i] for i in idx])
        print(f"  cases held out, {kind:10} n={len(idx):3} right {right:.3f}")
    model.meta.update(
        fitted=dt.date.today().isoformat(),
        command="python -m bench.fit_support",
        fitted_on="citecheck_cases.yaml split calibrate; CLAP NQ folds 0-1 (gold vs near "
        "passage); MultiHop-RAG dev (short answers vs facts)",
    )
    save(model, args.out)
    print(f"saved {args.out}")


def _number_rule(p: Pair) -> bool:
    """Pairs the number rule decides: a number the sentence states that the passage lacks."""
    return bool(numbers(p.sentence) - numbers(p.evidence))


def _balanced_weights(pairs: Sequence[Pair], fitted: np.ndarray) -> np.ndarray:
    """Each source and each label weighs the same in total."""
    keys = [(p.source, p.supported) for p, f in zip(pairs, fitted, strict=True) if f]
    count = Counter(keys)
    return np.array([1.0 / count[k] for k in keys])


if __name__ == "__main__":
    main()
