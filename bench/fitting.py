"""Fitting the project's logistic models (qa/extractive_model.py's ``Model``): the regression
itself and the scores the fitting scripts choose by. Not needed to answer a question.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from qa.extractive_model import VERSION, Model


def fit(
    x: np.ndarray,
    y: np.ndarray,
    features: Sequence[str],
    *,
    sample_weight: np.ndarray | None = None,
    l2: float = 1.0,
    iterations: int = 100,
) -> Model:
    """Logistic regression by Newton's method, L2-penalized (not the bias), standardized inputs.

    Thresholds are left at 0.5; choose them on training folds (``with_thresholds``).
    """
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.ones(len(x)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    w = w * len(x) / w.sum()
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0
    beta = np.zeros(z.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -40, 40)))
        gradient = z.T @ (w * (p - y)) + penalty * beta
        hessian = (
            (z * (w * p * (1 - p))[:, None]).T @ z + np.diag(penalty) + 1e-9 * np.eye(len(beta))
        )
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    return Model(tuple(features), mean, scale, beta[:-1], float(beta[-1]), 0.5, 0.5)


def with_thresholds(model: Model, refusal: float, keep: float) -> Model:
    return replace(model, refusal=refusal, keep=keep)


def to_dict(model: Model) -> dict[str, Any]:
    """The model's file content, as qa/extractive_model.py reads it."""
    return {
        "version": VERSION,
        "features": list(model.features),
        "mean": [round(float(v), 8) for v in model.mean],
        "scale": [round(float(v), 8) for v in model.scale],
        "weights": [round(float(v), 8) for v in model.weights],
        "bias": round(model.bias, 8),
        "refusal_threshold": round(model.refusal, 6),
        "keep_threshold": round(model.keep, 6),
        **model.meta,
    }


def save(model: Model, path: Path) -> None:
    path.write_text(json.dumps(to_dict(model), indent=1) + "\n", encoding="utf-8")


def auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """ROC AUC: the chance a positive scores above a negative (ties count half)."""
    if not len(positive) or not len(negative):
        return math.nan
    values = np.concatenate([np.asarray(positive, float), np.asarray(negative, float)])
    order = values.argsort(kind="stable")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    i = 0
    while i < len(values):  # average ranks over ties
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n = len(positive)
    return float((ranks[:n].sum() - n * (n + 1) / 2) / (n * len(negative)))
