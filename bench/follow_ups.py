"""How well the answer path decides, without the model, which questions lean on the
conversation (``qa.conversation.leans_on``): only those are rewritten by the model.

    python -m bench.follow_ups [tests/eval/follow_ups.jsonl]

The set (40 follow-ups, half of them leaning) was written and labelled by a helper session
from the seed article alone, without reading the rule. A false "leans" costs a model call
(the rewrite usually returns the question, which is kept); a false "stands alone" searches
the follow-up as it is.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from qa.conversation import leans_on

CASES = Path(__file__).resolve().parents[1] / "tests" / "eval" / "follow_ups.jsonl"


def main(argv: list[str] | None = None) -> None:
    path = Path((argv or sys.argv[1:] or [str(CASES)])[0])
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    wrong = [r for r in rows if leans_on(r["question"], r["history"]) != r["leans"]]
    for r in wrong:
        print(f"{'missed' if r['leans'] else 'false'} lean: {r['question']}")
    leaning = sum(r["leans"] for r in rows)
    missed = sum(r["leans"] for r in wrong)
    alone, false = len(rows) - leaning, len(wrong) - missed
    print(
        f"{len(rows)} follow-ups ({leaning} leaning): accuracy {1 - len(wrong) / len(rows):.3f}, "
        f"leaning found {(leaning - missed) / leaning:.3f}, standalone kept {1 - false / alone:.3f}"
    )


if __name__ == "__main__":
    main()
