"""A fitted logistic model over named features, read from its JSON file.

The extractive path's (qa/extractive_model.json, written by ``python -m bench.fit_extractive``)
gives how likely a candidate sentence answers a question, with two thresholds chosen on
training folds only: ``refusal`` (below it, even the best sentence does not answer: the
documents are taken not to answer) and ``keep`` (further sentences join the answer when they
are at least this share of the best one's probability). The check's scorer
(qa/support_model.json, ``python -m bench.fit_support``) is one too: its ``refusal`` is the
least probability that supports. Each file records what it was fitted on; the fitting itself
is in bench/fitting.py.
"""

from __future__ import annotations

import json
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


# The file's keys; bench/fitting.py writes them (``save``).
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
