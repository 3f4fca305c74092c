"""Fit the extractive model (qa/extractive_model.json) on public questions written by others.

    python -m bench.fit_extractive [--work-dir out/fit] [--no-write]

The questions (bench/extractive_data.py): CLAP NQ's tuning half and MultiHop-RAG's dev split,
each retrieved as ``qa.ask`` would over its own index (built in the work folder with the
current embedding settings: after changing ``QA_EMBEDDING_MODEL``, re-run this). Each
candidate sentence gets the features of qa/extractive_features.py and a label (does it
answer?); a logistic regression is fitted on them, and then two thresholds on its
probabilities: ``refusal`` (the best sentence below it: refuse), chosen for the best balanced
accuracy (answered answerable, refused unanswerable, averaged over the two sets), and
``keep`` (further sentences at least this share of the best one's probability are quoted
too), the most selective within one standard error of the best token F1 of the composed
answers against the reference (CLAP NQ: the annotators' answer; MultiHop-RAG: the evidence
facts). Thresholds are always chosen on out-of-fold probabilities of the training
questions.

Held-out figures come from 5 folds (by the hash of the question): the whole procedure is run
on four, and the fifth is answered with what it produced. Every question is held out once,
so no figure is measured on questions its model was fitted on. The model written to the
package is then fitted on all the questions. The seed cases (tests/eval/seed_qa.jsonl) are
never fitted on: they are only evaluated, with the written model, through ``qa.eval``.
The first run builds the two indexes in the work folder (CLAP NQ: 4 minutes; MultiHop-RAG's
8,093 chunks: 17 minutes on 2 cores shared with other jobs, 66 when they are very busy) and
retrieves every question (about 8 minutes); after that a fit takes about 70 seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from qa import Assistant, Settings
from qa.eval import evaluate, load_cases
from qa.evidence import Row
from qa.extractive import choose, compose
from qa.extractive_features import FEATURES, Candidate, candidates, features
from qa.extractive_model import DEFAULT_PATH, Model

from . import clapnq_data
from .extractive_data import Question, labeller, questions, seed_index
from .fitting import auc, fit, save, with_thresholds

ROOT = Path(__file__).resolve().parents[1]
SEED_CASES = ROOT / "tests" / "eval" / "seed_qa.jsonl"
DATASETS = ("clapnq", "multihop")
FOLDS = clapnq_data.FOLDS
L2 = 1.0
REFUSAL_GRID = np.round(np.arange(0.02, 0.90, 0.01), 3)
KEEP_GRID = np.round(np.arange(0.0, 0.96, 0.05), 3)
MODEL_FEATURES = FEATURES


@dataclass
class Prepared:
    q: Question
    cands: list[Candidate]
    x: np.ndarray  # candidates x FEATURES
    y: np.ndarray  # 1: the candidate answers


def prepare(qs: Sequence[Question]) -> list[Prepared]:
    out = []
    for q in qs:
        cands = candidates(q.passages).items
        answers = labeller(q)
        y = np.array([float(answers(c)) for c in cands])
        out.append(Prepared(q, cands, features(q.question, cands), y))
    return out


def _columns(names: Sequence[str]) -> list[int]:
    return [FEATURES.index(f) for f in names]


def fit_weights(train: Sequence[Prepared], names: Sequence[str]) -> Model:
    """The logistic regression on the training questions' candidates; each question weighs
    the same in total (a question with many candidates would otherwise count more), and so
    does each data set."""
    rows = [p for p in train if len(p.y)]
    x = np.vstack([p.x[:, _columns(names)] for p in rows])
    y = np.concatenate([p.y for p in rows])
    sets = {p.q.dataset for p in rows}
    per_set = {s: sum(p.q.dataset == s for p in rows) for s in sets}
    weight = np.concatenate(
        [np.full(len(p.y), 1.0 / (len(p.y) * per_set[p.q.dataset])) for p in rows]
    )
    return fit(x, y, names, sample_weight=weight, l2=L2)


def probabilities(model: Model, items: Sequence[Prepared]) -> list[np.ndarray]:
    cols = _columns(model.features)
    return [model.probabilities(p.x[:, cols]) if len(p.y) else np.zeros(0) for p in items]


def reference(q: Question) -> str:
    return q.reference if q.dataset == "clapnq" else " ".join(q.facts)


def answer_text(p: Prepared, probs: np.ndarray, refusal: float, keep: float) -> str | None:
    """The composed answer (None: refused), as qa.extractive.answer composes it."""
    order = np.argsort(-probs, kind="stable")
    ranked = [Row(p.cands[i], float(probs[i])) for i in order]
    chosen = choose(ranked, refusal, keep, Settings().max_answer_sentences)
    return compose(chosen)[0] if chosen else None


def _f1(p: Prepared, text: str | None) -> float:
    return 0.0 if text is None else clapnq_data.token_f1(text, reference(p.q))


def choose_thresholds(
    items: Sequence[Prepared], probs: Sequence[np.ndarray]
) -> tuple[float, float]:
    """``refusal`` for the best balanced accuracy, then ``keep`` for token F1 (one-SE rule)."""
    best = np.array([float(pr.max()) if len(pr) else 0.0 for pr in probs])
    answerable = np.array([p.q.answerable for p in items])
    sets = sorted({p.q.dataset for p in items})

    def balanced(t: float) -> float:
        scores = []
        for s in sets:
            mask = np.array([p.q.dataset == s for p in items])
            pos, neg = mask & answerable, mask & ~answerable
            parts = [float((best[pos] >= t).mean())] if pos.any() else []
            parts += [float((best[neg] < t).mean())] if neg.any() else []
            scores.append(np.mean(parts))
        return float(np.mean(scores))

    refusal = max(REFUSAL_GRID, key=lambda t: (balanced(t), -t))
    # The answer for a keep threshold quotes a prefix of the sentences chosen with none.
    prefixes = {
        i: _prefix_f1(items[i], probs[i])
        for i, p in enumerate(items)
        if p.q.answerable and best[i] >= refusal
    }

    def f1s(k: float) -> dict[str, np.ndarray]:
        per_set: dict[str, list[float]] = {}
        for i, steps in prefixes.items():
            least = max(refusal, k * steps[0][0])  # probabilities fall along the steps
            n = 1 + sum(p >= least for p, _ in steps[1:])
            per_set.setdefault(items[i].q.dataset, []).append(steps[n - 1][1])
        return {s: np.array(v) for s, v in per_set.items()}

    def mean(scores: dict[str, np.ndarray]) -> float:
        return float(np.mean([v.mean() for v in scores.values()])) if scores else 0.0

    # The one-standard-error rule: the most selective keep threshold whose F1 is within one
    # standard error of the best one's (fewer sentences to read for the same quality).
    scores = {k: f1s(k) for k in KEEP_GRID}
    top = max(KEEP_GRID, key=lambda k: mean(scores[k]))
    se = float(
        np.sqrt(sum(v.var(ddof=1) / len(v) for v in scores[top].values() if len(v) > 1))
        / max(1, len(scores[top]))
    )
    keep = max(k for k in KEEP_GRID if mean(scores[k]) >= mean(scores[top]) - se)
    return float(refusal), float(keep)


def _prefix_f1(p: Prepared, probs: np.ndarray) -> list[tuple[float, float]]:
    """(probability of the last sentence, token F1) of the answer quoting the first 1, 2, ...
    of the sentences chosen without a keep threshold."""
    order = np.argsort(-probs, kind="stable")
    ranked = [Row(p.cands[i], float(probs[i])) for i in order]
    chosen = choose(ranked, 0.0, 0.0, Settings().max_answer_sentences)
    return [
        (chosen[n - 1].probability, _f1(p, compose(chosen[:n])[0]))
        for n in range(1, len(chosen) + 1)
    ]


def fit_model(train: Sequence[Prepared], names: Sequence[str]) -> Model:
    """Weights on all of ``train``; thresholds on out-of-fold probabilities within it."""
    folds = sorted({p.q.fold for p in train})
    oof: list[np.ndarray] = [np.zeros(0)] * len(train)
    for f in folds:
        inner = fit_weights([p for p in train if p.q.fold != f], names)
        held = [i for i, p in enumerate(train) if p.q.fold == f]
        for i, pr in zip(held, probabilities(inner, [train[i] for i in held]), strict=True):
            oof[i] = pr
    refusal, keep = choose_thresholds(train, oof)
    return with_thresholds(fit_weights(train, names), refusal, keep)


def figures(items: Sequence[Prepared], model: Model) -> dict[str, dict[str, float]]:
    """Per data set: token F1 (a refusal scores 0), false refusals, refusals of the
    unanswerable, citations in a gold source, and the ranking quality of the probabilities."""
    out: dict[str, dict[str, float]] = {}
    probs = probabilities(model, items)
    for s in sorted({p.q.dataset for p in items}):
        rows = [(p, pr) for p, pr in zip(items, probs, strict=True) if p.q.dataset == s]
        answerable = [(p, pr) for p, pr in rows if p.q.answerable]
        unanswerable = [(p, pr) for p, pr in rows if not p.q.answerable]
        texts = [answer_text(p, pr, model.refusal, model.keep) for p, pr in answerable]
        cited = [
            any(c.passage.source in p.q.sources for c in _chosen(p, pr, model))
            for (p, pr), t in zip(answerable, texts, strict=True)
            if t is not None
        ]
        best_pos = [float(pr.max()) if len(pr) else 0.0 for _, pr in answerable]
        best_neg = [float(pr.max()) if len(pr) else 0.0 for _, pr in unanswerable]
        labelled = [(pr, p.y) for p, pr in rows if len(p.y) and p.y.any() and not p.y.all()]
        out[s] = {
            "questions": len(rows),
            "answerable": len(answerable),
            "unanswerable": len(unanswerable),
            "token_f1": float(
                np.mean([_f1(p, t) for (p, _), t in zip(answerable, texts, strict=True)])
            ),
            "false_refusals": float(np.mean([t is None for t in texts])),
            "refusal": float(
                np.mean(
                    [float(pr.max()) < model.refusal if len(pr) else True for _, pr in unanswerable]
                )
            )
            if unanswerable
            else float("nan"),
            "gold_cited": float(np.mean(cited)) if cited else float("nan"),
            "refusal_auc": auc(best_pos, best_neg),
            "top1_answers": float(
                np.mean([bool(p.y[int(np.argmax(pr))]) for p, pr in answerable if len(pr)])
            ),
            "sentence_auc": float(np.mean([auc(pr[y == 1], pr[y == 0]) for pr, y in labelled])),
        }
    return out


def _chosen(p: Prepared, pr: np.ndarray, model: Model) -> list[Candidate]:
    order = np.argsort(-pr, kind="stable")
    ranked = [Row(p.cands[i], float(pr[i])) for i in order]
    chosen = choose(ranked, model.refusal, model.keep, Settings().max_answer_sentences)
    return [s.candidate for s in chosen]


def cross_validate(items: Sequence[Prepared], names: Sequence[str]) -> dict[str, Any]:
    """Each fold answered by the model fitted (weights and thresholds) on the others."""
    per_fold = {}
    held_probs: list[tuple[Prepared, Model]] = []
    for f in range(FOLDS):
        train = [p for p in items if p.q.fold != f]
        test = [p for p in items if p.q.fold == f]
        model = fit_model(train, names)
        per_fold[f] = {"refusal": model.refusal, "keep": model.keep, **figures(test, model)}
        held_probs += [(p, model) for p in test]
    pooled = _pooled(held_probs)
    return {"folds": per_fold, "pooled": pooled}


def _pooled(held: Sequence[tuple[Prepared, Model]]) -> dict[str, dict[str, float]]:
    """Figures over all held-out questions, each answered by its own fold's model."""
    by_model: dict[int, list[Prepared]] = {}
    models = {}
    for p, m in held:
        by_model.setdefault(id(m), []).append(p)
        models[id(m)] = m
    per = [(figures(ps, models[k]), ps) for k, ps in by_model.items()]
    out: dict[str, dict[str, float]] = {}
    for s in DATASETS:
        parts = [(f[s], sum(p.q.dataset == s for p in ps)) for f, ps in per if s in f]
        if not parts:
            continue
        out[s] = {}
        for key in parts[0][0]:
            if key in ("questions", "answerable", "unanswerable"):
                out[s][key] = float(sum(f[key] for f, _ in parts))
                continue
            weight = "unanswerable" if key == "refusal" else "answerable"
            if key in ("refusal_auc", "sentence_auc"):
                weight = "questions"
            num = sum(f[key] * f[weight] for f, _ in parts if not np.isnan(f[key]))
            den = sum(f[weight] for f, _ in parts if not np.isnan(f[key]))
            out[s][key] = num / den if den else float("nan")
    return out


def seed_figures(work: Path, model_path: Path) -> dict[str, Any]:
    """The seed cases through qa.eval with the written model (never fitted on)."""
    settings = Settings(answer_mode="extractive", extractive_model=model_path)
    index_dir = seed_index(work, settings, ROOT / "seeds")
    assistant = Assistant(settings.model_copy(update={"index_dir": index_dir}))
    try:
        cases, _ = load_cases(SEED_CASES)
        run = evaluate(assistant, cases, k=10)
    finally:
        assistant.index.close()
    s = run.summary
    failed = [f"{r.id}: {'; '.join(r.problems)}" for r in run.results if not r.passed]
    return {
        **{
            k: s[k]
            for k in (
                "cases",
                "passed",
                "key_fact_recall",
                "false_refusal_rate",
                "refusal_recall",
                "refusal_precision",
                "citation_precision",
                "citation_recall",
            )
        },
        "failed": failed,
    }


def _table(name: str, figs: dict[str, dict[str, float]]) -> None:
    keys = ("token_f1", "false_refusals", "refusal", "gold_cited", "refusal_auc", "top1_answers")
    print(f"{name:<24} " + "  ".join(f"{k:>14}" for k in keys))
    for s, f in figs.items():
        print(f"  {s:<22} " + "  ".join(f"{f[k]:>14.3f}" for k in keys))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=ROOT / "out" / "fit")
    parser.add_argument("--output", type=Path, default=DEFAULT_PATH, help="the model file")
    parser.add_argument("--no-write", action="store_true", help="only print the figures")
    parser.add_argument("--no-seeds", action="store_true", help="skip the seed evaluation")
    parser.add_argument(
        "--datasets", nargs="+", choices=DATASETS, default=DATASETS, help="fit on these only"
    )
    parser.add_argument(
        "--leave-out",
        nargs="+",
        type=int,
        choices=range(FOLDS),
        default=[],
        metavar="FOLD",
        help="fit without the questions of these folds (0-4), to measure what is built on the "
        "model's probabilities on questions it never saw; needs --output or --no-write",
    )
    args = parser.parse_args()
    if args.leave_out and not args.no_write and args.output == DEFAULT_PATH:
        parser.error("--leave-out would overwrite the shipped model: give --output elsewhere")
    if len(set(args.leave_out)) >= FOLDS - 1:
        parser.error("--leave-out must leave at least two folds to fit on")
    started = time.perf_counter()
    settings = Settings()
    print(f"retrieving with {settings.embedding_model}, top_k {settings.top_k} ...", flush=True)
    datasets = tuple(args.datasets)
    qs = [q for q in questions(args.work_dir, settings, datasets) if q.fold not in args.leave_out]
    items = prepare(qs)
    n_cands = sum(len(p.y) for p in items)
    n_pos = int(sum(p.y.sum() for p in items))
    for s in datasets:
        mine = [p for p in items if p.q.dataset == s]
        print(
            f"{s}: {len(mine)} questions ({sum(p.q.answerable for p in mine)} answerable), "
            f"{sum(len(p.y) for p in mine)} candidate sentences, "
            f"{int(sum(p.y.sum() for p in mine))} answering"
        )
    names = MODEL_FEATURES
    # Cross-validation needs three folds or more; with folds left out, it is skipped (the
    # left-out folds are measured elsewhere, by whatever the partial model is fitted for).
    cv = cross_validate(items, names) if not args.leave_out else {"folds": {}, "pooled": {}}
    if cv["folds"]:
        print(f"\nheld-out figures ({FOLDS} folds; each fold answered by the model of the others):")
        for f, figs in cv["folds"].items():
            print(f"fold {f}: refusal threshold {figs['refusal']:.3f}, keep {figs['keep']:.3f}")
            _table("", {k: v for k, v in figs.items() if isinstance(v, dict)})
        _table("pooled held-out", cv["pooled"])

    model = fit_model(items, names)
    meta = {
        "fitted": dt.date.today().isoformat(),
        "command": "python -m bench.fit_extractive",
        "left_out_folds": sorted(set(args.leave_out)),
        "embedding_model": settings.embedding_model,
        "top_k": settings.top_k,
        "fitted_on": {
            s: {
                "questions": sum(p.q.dataset == s for p in items),
                "answerable": sum(p.q.dataset == s and p.q.answerable for p in items),
            }
            for s in datasets
        },
        "candidates": n_cands,
        "answering_candidates": n_pos,
        "held_out": {s: {k: round(v, 4) for k, v in f.items()} for s, f in cv["pooled"].items()},
    }
    model = replace(model, meta=meta)
    some = f"folds {sorted(set(args.leave_out))} left out" if args.leave_out else "all"
    print(f"\nfitted on {some}: {len(items)} questions ({n_cands} candidates, {n_pos} answering):")
    print(f"refusal threshold {model.refusal:.3f}, keep threshold {model.keep:.3f}")
    for name, w in sorted(
        zip(model.features, model.weights, strict=True), key=lambda x: -abs(x[1])
    ):
        print(f"  {name:<24} {w:+.3f}")
    if not args.no_write:
        save(model, args.output)
        print(f"written to {args.output}")
    if not args.no_seeds:
        path = args.output if not args.no_write else _temporary(model, args.work_dir)
        seeds = seed_figures(args.work_dir, path)
        print("\nseed cases (never fitted on), through qa.eval:")
        for k, v in seeds.items():
            print(f"  {k}: {v}")
    print(f"\n{time.perf_counter() - started:.0f} s")


def _temporary(model: Model, work: Path) -> Path:
    path = work / "extractive_model.json"
    save(model, path)
    return path


if __name__ == "__main__":
    main()
