"""Comparing two evaluations: the change of every figure, and the regressions among them.

A share (hit@k, recall, …) regresses when it moves the wrong way by more than ``tolerance``
(absolute, default 0.02: on 36 cases one flipped case is 0.028). Latency depends on the
machine, so it is compared only when ``max_slowdown`` is given (relative: 0.5 fails a p95
more than 50 % slower). A figure missing on either side is shown, not judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .metrics import MEASURES, Measure
from .report import Report, table

DEFAULT_TOLERANCE = 0.02


@dataclass
class Delta:
    key: str
    label: str
    old: float | None
    new: float | None
    regressed: bool

    @property
    def change(self) -> float | None:
        return None if self.old is None or self.new is None else self.new - self.old


@dataclass
class Comparison:
    deltas: list[Delta]
    newly_failing: list[str]  # case ids that passed before
    newly_passing: list[str]
    notes: list[str] = field(default_factory=list)  # why the two runs may not be comparable

    @property
    def regressions(self) -> list[Delta]:
        return [d for d in self.deltas if d.regressed]


def _regressed(
    m: Measure, old: float | None, new: float | None, tol: float, slow: float | None
) -> bool:
    if old is None or new is None:
        return False
    if m.latency:
        return slow is not None and new > old * (1.0 + slow)
    worse = old - new if m.higher_is_better else new - old
    return worse > tol + 1e-9


def compare(
    old: Report,
    new: Report,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    max_slowdown: float | None = None,
) -> Comparison:
    if tolerance < 0 or (max_slowdown is not None and max_slowdown < 0):
        raise ValueError("tolerance and max slowdown cannot be negative")
    deltas = []
    for m in MEASURES:
        a, b = old["summary"].get(m.key), new["summary"].get(m.key)
        if a is None and b is None:
            continue
        deltas.append(Delta(m.key, m.label, a, b, _regressed(m, a, b, tolerance, max_slowdown)))
    before = {c["id"]: c["passed"] for c in old["cases"]}
    after = {c["id"]: c["passed"] for c in new["cases"]}
    common = [i for i in after if i in before]
    notes = []
    if set(before) != set(after):
        notes.append(
            f"the case sets differ: {len(set(after) - set(before))} new, "
            f"{len(set(before) - set(after))} gone, {len(common)} in both"
        )
    if old["meta"].get("k") != new["meta"].get("k"):
        notes.append(f"k differs: {old['meta'].get('k')} before, {new['meta'].get('k')} now")
    return Comparison(
        deltas,
        [i for i in common if before[i] and not after[i]],
        [i for i in common if after[i] and not before[i]],
        notes,
    )


def format_comparison(c: Comparison, k: int) -> str:
    def num(v: float | None) -> str:
        return "–" if v is None else f"{v:.3f}"

    rows = [
        [
            d.label.replace("@k", f"@{k}"),
            num(d.old),
            num(d.new),
            "–" if d.change is None else f"{d.change:+.3f}",
            "REGRESSION" if d.regressed else "",
        ]
        for d in c.deltas
    ]
    lines = [table(rows, ["figure", "before", "now", "change", ""])]
    lines += [f"note: {n}" for n in c.notes]
    if c.newly_failing:
        lines.append(f"newly failing: {', '.join(c.newly_failing)}")
    if c.newly_passing:
        lines.append(f"newly passing: {', '.join(c.newly_passing)}")
    if c.regressions:
        names = ", ".join(d.label.replace("@k", f"@{k}") for d in c.regressions)
        lines.append(f"{len(c.regressions)} regression(s) beyond tolerance: {names}")
    else:
        lines.append("no regression beyond tolerance")
    return "\n".join(lines)
