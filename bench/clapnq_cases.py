"""CLAP NQ questions as evaluation cases, so that ``python -m qa eval`` runs the benchmark.

    python -m bench.clapnq_cases out/clapnq                 # docs/ + cases.jsonl + answers.jsonl
    python -m ingest out/clapnq/docs --index-dir out/clapnq/index          # ~1 min, 2 cores
    python -m qa eval out/clapnq/cases.jsonl --index-dir out/clapnq/index --report out/clapnq/r
    python -m bench.clapnq_cases out/clapnq --score out/clapnq/r/report.json

Each question becomes a case whose ``expected_sources`` is its gold passage's file, so the
evaluation's citation precision is the README's *gold passage cited* (a citation into the
gold passage) and hit@k finds the gold passage; unanswerable questions are ``unanswerable``.
The long-form answers are not key facts (they are written, not quoted): they go to
``answers.jsonl``, and ``--score`` reads an evaluation's report.json (any answer mode) and
prints the README's token F1, false refusals and refusals, overall and per fold (the folds
``bench.fit_extractive`` uses).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from qa.eval import Case, write_cases

from .clapnq_data import file_name, fold, questions, token_f1, write_passages


def case_id(question: dict[str, Any]) -> str:
    return f"clapnq-{question['id']}"


def to_case(question: dict[str, Any]) -> Case:
    tags = (f"fold-{fold(question['id'])}",)
    if question["unanswerable"]:
        return Case(case_id(question), question["question"], unanswerable=True, tags=tags)
    return Case(
        case_id(question),
        question["question"],
        expected_sources=tuple(file_name(p) for p in question["passages"]),
        tags=tags,
    )


def build(folder: Path) -> int:
    """Write ``folder``/docs/*.md, cases.jsonl and answers.jsonl; returns the number of cases."""
    write_passages(folder / "docs")
    qs = questions()
    write_cases(folder / "cases.jsonl", [to_case(q) for q in qs])
    with (folder / "answers.jsonl").open("w", encoding="utf-8") as out:
        for q in qs:
            if not q["unanswerable"]:
                out.write(json.dumps({"id": case_id(q), "answer": q["answer"]}) + "\n")
    return len(qs)


def score(report: dict[str, Any], answers: dict[str, str]) -> dict[str, dict[str, float]]:
    """The README's figures per fold and overall ("all") from an evaluation report."""
    groups: dict[str, list[dict[str, Any]]] = {"all": []}
    for case in report["cases"]:
        folds = [t for t in case["tags"] if t.startswith("fold-")]
        for name in ["all", *folds]:
            groups.setdefault(name, []).append(case)
    out = {}
    for name, cases in sorted(groups.items()):
        answerable = [c for c in cases if not c["unanswerable"]]
        unanswerable = [c for c in cases if c["unanswerable"]]
        f1 = [0.0 if c["refused"] else token_f1(c["answer"], answers[c["id"]]) for c in answerable]
        cited = [any(x["relevant"] for x in c["citations"]) for c in answerable if not c["refused"]]
        out[name] = {
            "answerable": len(answerable),
            "unanswerable": len(unanswerable),
            "token_f1": sum(f1) / max(1, len(f1)),
            "false_refusals": sum(c["refused"] for c in answerable) / max(1, len(answerable)),
            "refusal": sum(c["refused"] for c in unanswerable) / max(1, len(unanswerable)),
            "gold_cited": sum(cited) / max(1, len(cited)),
        }
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path, help="where docs/, cases.jsonl and answers.jsonl go")
    p.add_argument("--score", type=Path, metavar="REPORT", help="score this report.json instead")
    args = p.parse_args()
    if args.score is None:
        n = build(args.folder)
        print(f"{n} cases in {args.folder / 'cases.jsonl'}; passages in {args.folder / 'docs'}")
        return
    report = json.loads(args.score.read_text(encoding="utf-8"))
    lines = (args.folder / "answers.jsonl").read_text(encoding="utf-8").splitlines()
    answers = {row["id"]: row["answer"] for row in map(json.loads, lines)}
    print("group     answerable  unanswerable  token F1  false refusals  refusal  gold cited")
    for name, f in score(report, answers).items():
        print(
            f"{name:<9} {f['answerable']:>10}  {f['unanswerable']:>12}  {f['token_f1']:>8.3f}  "
            f"{f['false_refusals']:>14.3f}  {f['refusal']:>7.3f}  {f['gold_cited']:>10.3f}"
        )


if __name__ == "__main__":
    main()
