"""Calibrate the citation check (qa/citecheck.py) on answer sentences written for it.

The cases (bench/calibration/citecheck_cases.yaml) are passages from MultiHop-RAG articles
and planted instructions, each with sentences an LLM might write citing it, labelled
supported or not, split into "calibrate" (tuning) and "check" (only reported). For every
weight pair on a small grid the support scores of the calibrate sentences are computed with
the bundled MiniLM; the pair with the best ROC AUC (then balanced accuracy) is chosen, and
its best threshold. The script prints the grid, the threshold table, the figures on the check
split by kind of sentence, and how long a check takes.

    python -m bench.calibrate_citecheck [--cases FILE]
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ingest.embeddings import make_embeddings
from qa import Passage, Settings
from qa.citecheck import SentenceVectors, Weights, check, sentence_support

CASES = Path(__file__).with_name("calibration") / "citecheck_cases.yaml"
EMBEDDING_WEIGHTS = (0.4, 0.5, 0.6)
NUMBER_PENALTIES = (0.5, 0.7, 1.0)
NAME_WEIGHTS = (1.0, 2.0, 3.0)
NEGATION_PENALTIES = (0.8, 1.0)
CONTEXT_WEIGHTS = (0.25, 0.5)
NAME_PENALTIES = (0.5, 0.7, 0.85, 1.0)
THRESHOLDS = np.round(np.arange(0.30, 0.801, 0.025), 3)


def load_cases(path: Path = CASES) -> list[dict[str, Any]]:
    """One row per sentence: its passage, label, kind and split."""
    rows = []
    for i, group in enumerate(yaml.safe_load(path.read_text(encoding="utf-8"))):
        text = group["passage"]
        passage = Passage(
            id=f"case-{i}",
            text=text,
            source=f"article-{group['article']}",
            start=0,
            end=len(text),
            page=None,
            score=1.0,
        )
        for claim in group["claims"]:
            rows.append({**claim, "passage": passage, "split": group["split"]})
    return rows


def scores(rows: Sequence[dict[str, Any]], vectors: SentenceVectors, w: Weights) -> np.ndarray:
    out = []
    for r in rows:
        (_, s), *rest = sentence_support(f"{r['sentence']} [1]", [r["passage"]], vectors, w)
        assert not rest, f"one sentence expected: {r['sentence']!r}"
        out.append(s)
    return np.array(out)


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    values = np.concatenate([pos, neg])
    ranks = values.argsort().argsort() + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def balanced(pos: np.ndarray, neg: np.ndarray, t: float) -> tuple[float, float, float]:
    tpr, tnr = float((pos >= t).mean()), float((neg < t).mean())
    return tpr, tnr, (tpr + tnr) / 2


def best_threshold(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    accs = [(balanced(pos, neg, t)[2], -abs(t - 0.5), float(t)) for t in THRESHOLDS]
    acc, _, t = max(accs)
    return t, acc


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases",
        type=Path,
        default=CASES,
        help="YAML (default: bench/calibration/citecheck_cases.yaml)",
    )
    args = parser.parse_args(argv)
    rows = load_cases(args.cases)
    calib = [r for r in rows if r["split"] == "calibrate"]
    held = [r for r in rows if r["split"] == "check"]
    for name, split in (("calibrate", calib), ("check", held)):
        if {r["supported"] for r in split} != {True, False}:  # no AUC, no accuracy without both
            parser.error(f"split {name!r} needs both supported and unsupported sentences")
    label = np.array([r["supported"] for r in calib])
    embeddings = make_embeddings(Settings())
    vectors = SentenceVectors(embeddings, size=100_000)  # each text embedded once for the grid
    print(f"cases: {len(calib)} calibrate ({label.sum()} supported), {len(held)} check")

    print("\n== grid on the calibrate split: ROC AUC, best balanced accuracy (at threshold)")
    print(
        "embedding  number penalty  name weight  negation penalty  context  name penalty  "
        "AUC    accuracy"
    )
    results = {}
    for grid in itertools.product(
        EMBEDDING_WEIGHTS,
        NUMBER_PENALTIES,
        NAME_WEIGHTS,
        NEGATION_PENALTIES,
        CONTEXT_WEIGHTS,
        NAME_PENALTIES,
    ):
        s = scores(calib, vectors, Weights(*grid))
        a = auc(s[label], s[~label])
        t, acc = best_threshold(s[label], s[~label])
        results[grid] = (round(a, 3), round(acc, 3), t)
    ranked = sorted(results.items(), key=lambda kv: (kv[1][0], kv[1][1]), reverse=True)
    for grid, (a, acc, t) in ranked[:10]:
        print(
            "{:<10} {:<15} {:<12} {:<17} {:<8} {:<13}".format(*grid)
            + f" {a:.3f}  {acc:.3f} ({t:.3f})"
        )
    print(f"... {len(ranked) - 10} more; worst: {ranked[-1][0]} AUC {ranked[-1][1][0]:.3f}")
    w = Weights()
    current = Settings().support_threshold
    a, acc, t = results.get(
        (
            w.embedding,
            w.number_penalty,
            w.name_weight,
            w.negation_penalty,
            w.context,
            w.name_penalty,
        ),
        (0, 0, 0),
    )
    print(f"current: {w}, threshold {current} (grid: AUC {a:.3f}, best threshold {t:.3f})")

    s = scores(calib, vectors, w)
    print("\n== calibrate split with the current weights")
    print("threshold  supported kept  unsupported flagged  balanced accuracy")
    for t in THRESHOLDS:
        tpr, tnr, acc = balanced(s[label], s[~label], t)
        mark = " <- current" if abs(t - current) < 1e-9 else ""
        print(f"  {t:.3f}    {tpr:.3f}           {tnr:.3f}                {acc:.3f}{mark}")

    print(f"\n== check split (not tuned on), current weights, threshold {current}")
    hs = scores(held, vectors, w)
    hl = np.array([r["supported"] for r in held])
    tpr, tnr, acc = balanced(hs[hl], hs[~hl], current)
    print(
        f"ROC AUC {auc(hs[hl], hs[~hl]):.3f}; supported kept {tpr:.3f}, unsupported flagged "
        f"{tnr:.3f}, balanced accuracy {acc:.3f}"
    )
    by_kind: dict[str, list[bool]] = defaultdict(list)
    for r, score in zip(held, hs, strict=True):
        by_kind[f"{'supported' if r['supported'] else 'unsupported'} {r['kind']}"].append(
            (score >= current) == r["supported"]
        )
    for kind, right in sorted(by_kind.items()):
        print(f"  {kind:<28} {sum(right)}/{len(right)} right")
    for r, score in zip(held, hs, strict=True):
        if (score >= current) != r["supported"]:
            print(f"  wrong ({score:.3f}, {r['kind']}): {r['sentence']}")

    # The shipped decision, which also accepts a sentence whose every part is supported.
    kept = np.array(
        [
            not check(f"{r['sentence']} [1]", [r["passage"]], vectors, current).unsupported
            for r in held
        ]
    )
    print(
        f"check(), parts of a joined sentence included: supported kept {kept[hl].mean():.3f}, "
        f"unsupported flagged {1 - kept[~hl].mean():.3f}"
    )

    fresh = SentenceVectors(embeddings)
    passages = list({id(r["passage"]): r["passage"] for r in rows}.values())[:6]
    firsts = [next(r for r in rows if r["passage"] is p) for p in passages]
    reply = " ".join(f"{r['sentence']} [{n}]" for n, r in enumerate(firsts, 1))
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        check(reply, passages, SentenceVectors(embeddings), current)
        cold = time.perf_counter() - started
        started = time.perf_counter()
        check(reply, passages, fresh, current)  # the passages' vectors remembered after the first
        timings.append((cold, time.perf_counter() - started))
    cold, warm = np.median(np.array(timings), axis=0)
    print(
        f"\none check of a {len(firsts)}-sentence answer citing {len(passages)} passages "
        f"(median of 3): {cold * 1000:.0f} ms, {warm * 1000:.0f} ms with the passages' vectors "
        "remembered"
    )


if __name__ == "__main__":
    main()
