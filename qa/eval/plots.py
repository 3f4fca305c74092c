"""The report's pictures (matplotlib PNGs): scores by tag, where the evidence ranks, latency.

matplotlib is imported here only, when a report is written; figures are drawn on
``matplotlib.figure.Figure`` objects (no pyplot), so no GUI backend or global state is involved.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, ScalarFormatter

# (summary key, column label): the per-tag scores, all shares in 0..1.
TAG_COLUMNS = (
    ("pass_rate", "cases\npassed"),
    ("key_fact_recall", "key-fact\nrecall"),
    ("hit_at_k", "hit@k"),
    ("mrr", "MRR@k"),
    ("citation_precision", "citation\nprecision"),
    ("citation_recall", "citation\nrecall"),
    ("refusal_recall", "refusal\nrecall"),
)
# Added when the LLM judge ran.
JUDGE_COLUMNS = (
    ("judge_faithfulness", "judge:\nfaithful"),
    ("judge_correctness", "judge:\ncorrect"),
)
_DPI = 110


def tag_scores(tags: dict[str, dict[str, Any]], k: int, path: Path) -> Path:
    """A heat map, tags by scores: red is 0, green is 1, a grey "–" was not measured."""
    names = list(tags)
    judged = any(tags[t].get(key) is not None for t in names for key, _ in JUDGE_COLUMNS)
    columns = TAG_COLUMNS + JUDGE_COLUMNS if judged else TAG_COLUMNS
    values = np.array(
        [
            [np.nan if tags[t].get(key) is None else tags[t][key] for key, _ in columns]
            for t in names
        ],
        dtype=float,
    )
    fig = Figure(figsize=(1.2 * len(columns) - 0.2, 1.4 + 0.36 * len(names)), dpi=_DPI)
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad="#eeeeee")
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=0, vmax=1, aspect="auto")
    for (i, j), v in np.ndenumerate(values):
        text = "–" if np.isnan(v) else f"{v:.2f}"
        dark = not np.isnan(v) and (v > 0.8 or v < 0.15)  # the ends of the map are dark
        ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "#222")
    ax.set_xticks(range(len(columns)), [c.replace("@k", f"@{k}") for _, c in columns])
    ax.xaxis.tick_top()
    ax.tick_params(axis="x", labelsize=8, length=0)
    ax.set_yticks(range(len(names)), [f"{t} (n={tags[t]['cases']})" for t in names])
    ax.tick_params(axis="y", labelsize=8, length=0)
    ax.set_xticks(np.arange(-0.5, len(columns)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(names)), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    ax.set_title("Scores by tag", pad=12)
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    fig.tight_layout()
    fig.savefig(path)
    return path


def latency(seconds: list[float], path: Path) -> Path:
    """Histogram of the time to answer, with the median and 95th percentile marked."""
    ms = np.array(seconds) * 1000.0
    fig = Figure(figsize=(7, 3.6), dpi=_DPI)
    ax = fig.add_subplot()
    if len(ms):
        bins: Any = min(30, max(5, len(ms) // 2))
        if ms.min() > 0 and ms.max() / ms.min() > 20:  # a long tail: log-spaced bins show it
            bins = np.geomspace(ms.min(), ms.max(), bins + 1)
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.hist(ms, bins=bins, color="#4c72b0", alpha=0.85)
        for q, style in ((50, "-"), (95, "--")):
            value = float(np.percentile(ms, q))
            ax.axvline(value, color="#c44e52", linestyle=style, label=f"p{q} = {value:.0f} ms")
        ax.legend()
    ax.set_xlabel("time to answer (ms, Assistant.ask)")
    ax.set_ylabel("cases")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"Latency ({len(ms)} answers)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path


def ranks(first_ranks: list[int | None], k: int, path: Path) -> Path:
    """Bars: how many answerable cases find their first relevant passage at each rank."""
    counts = Counter(first_ranks)
    labels = [str(r) for r in range(1, k + 1)] + ["none"]
    values = [counts.get(r, 0) for r in range(1, k + 1)] + [counts.get(None, 0)]
    fig = Figure(figsize=(7, 3.4), dpi=_DPI)
    ax = fig.add_subplot()
    colours = ["#55a868"] * k + ["#c44e52"]
    bars = ax.bar(labels, values, color=colours)
    ax.bar_label(bars, [str(v) if v else "" for v in values])
    ax.set_xlabel(f"rank of the first relevant passage (top {k})")
    ax.set_ylabel("cases")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(values) * 1.15 + 0.5)
    ax.set_title("Where the evidence ranks")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path
