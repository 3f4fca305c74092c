"""The fitted model of the extractive path: how likely a candidate sentence answers a question.

A logistic regression over the features of qa/extractive_features.py, with two thresholds
chosen on training folds only: ``refusal`` (below it, even the best sentence does not answer:
the documents are taken not to answer) and ``keep`` (further sentences join the answer when
they are at least this share of the best one's probability). The parameters live in a JSON
file shipped in the package (qa/extractive_model.json), written by
``python -m bench.fit_extractive``, which also records what it was fitted on and the figures
on held-out folds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_PATH = Path(__file__).with_name("extractive_model.json")
VERSION = 1


class ModelFileError(ValueError):
    """A parameter file that cannot be used; the message says how to repair it."""


@dataclass(frozen=True)
class Model:
    features: tuple[str, ...]
    mean: np.ndarray  # per feature, subtracted before weighting
    scale: np.ndarray  # per feature, divided by before weighting
    weights: np.ndarray
    bias: float
    refusal: float  # least probability of the best sentence for an answer
    keep: float  # least probability of a further sentence, as a share of the best one's
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """P(the sentence answers) for each row of ``x`` (columns in ``features`` order)."""
        if x.shape[0] == 0:
            return np.zeros(0)
        z = ((x - self.mean) / self.scale) @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "features": list(self.features),
            "mean": [round(float(v), 8) for v in self.mean],
            "scale": [round(float(v), 8) for v in self.scale],
            "weights": [round(float(v), 8) for v in self.weights],
            "bias": round(self.bias, 8),
            "refusal_threshold": round(self.refusal, 6),
            "keep_threshold": round(self.keep, 6),
            **self.meta,
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")

    def with_thresholds(self, refusal: float, keep: float) -> Model:
        return Model(
            self.features, self.mean, self.scale, self.weights, self.bias, refusal, keep, self.meta
        )


_KEYS = ("features", "mean", "scale", "weights", "bias", "refusal_threshold", "keep_threshold")


def from_dict(data: dict[str, Any], expected: Sequence[str] | None = None) -> Model:
    """The model from its JSON form; ``expected``: the feature names the code computes."""
    if data.get("version") != VERSION or any(k not in data for k in _KEYS):
        raise ModelFileError(f"not a version-{VERSION} extractive model")
    features = tuple(data["features"])
    mean, scale, weights = (
        np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "weights")
    )
    if any(a.shape != (len(features),) for a in (mean, scale, weights)) or not np.all(scale > 0):
        raise ModelFileError("its mean, scale and weights do not match its features")
    if expected is not None and (unknown := set(features) - set(expected)):
        raise ModelFileError(f"features this code does not compute: {sorted(unknown)}")
    meta = {k: v for k, v in data.items() if k not in (*_KEYS, "version")}
    return Model(
        features,
        mean,
        scale,
        weights,
        bias=float(data["bias"]),
        refusal=float(data["refusal_threshold"]),
        keep=float(data["keep_threshold"]),
        meta=meta,
    )


@cache
def load(path: Path = DEFAULT_PATH, expected: tuple[str, ...] | None = None) -> Model:
    """The model in ``path`` (read once per process)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return from_dict(data, expected)
    except (OSError, json.JSONDecodeError, ModelFileError, TypeError, ValueError) as err:
        raise ModelFileError(
            f"cannot use the extractive model {path}: {err}; regenerate it with "
            "`python -m bench.fit_extractive` (or unset QA_EXTRACTIVE_MODEL)"
        ) from err


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


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


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
