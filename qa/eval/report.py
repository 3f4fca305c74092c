"""Showing an evaluation: the terminal table, and a report folder (report.json, report.md, PNGs).

Everything renders from the report dict (``EvalRun.to_dict()``, the content of report.json),
so an old report.json can be shown or compared the same way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .metrics import MEASURES

Report = dict[str, Any]  # EvalRun.to_dict()
TERMINAL_FAILURES = 20  # failed cases shown in the terminal; the report folder has them all
REPORT_FAILURES = 200  # failed cases detailed in report.md; report.json has them all
JUDGE_ERRORS_SHOWN = 5  # cases without a judge's verdict listed in the terminal


def _num(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table(rows: Sequence[Sequence[str]], header: Sequence[str] | None = None) -> str:
    """Columns padded to their widest cell; the first left-aligned, the others right."""
    all_rows = [list(header)] if header else []
    all_rows += [list(r) for r in rows]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(all_rows[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in all_rows
    ]
    if header:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _label(label: str, k: int) -> str:
    return label.replace("@k", f"@{k}")


def summary_rows(report: Report) -> list[list[str]]:
    """(group, figure, value, measured on) for each figure; the judge's only when it ran."""
    s, k = report["summary"], report["meta"]["k"]
    rows: list[list[str]] = []
    previous = ""
    for m in MEASURES:
        if m.group == "LLM judge" and s.get(m.key) is None:
            continue
        n = s["measured_on"].get(m.key, 0)
        unit = {"offsets_exact": " citations", "refusal_precision": " refusals"}.get(m.key, "")
        group = m.group if m.group != previous else ""
        rows.append([group, _label(m.label, k), _num(s.get(m.key)), f"{n}{unit}"])
        previous = m.group
    return rows


def tag_rows(report: Report) -> list[list[str]]:
    return [
        [
            tag,
            str(t["cases"]),
            _num(t["pass_rate"], 2),
            _num(t["key_fact_recall"], 2),
            _num(t["hit_at_k"], 2),
            _num(t["citation_recall"], 2),
            _num(t["refusal_recall"], 2),
        ]
        for tag, t in report["tags"].items()
    ]


def tag_header(k: int) -> list[str]:
    return ["tag", "n", "passed", "facts", f"hit@{k}", "cit. recall", "refusals"]


def headline(report: Report) -> str:
    m, s = report["meta"], report["summary"]
    return (
        f"{Path(m.get('cases_file', 'cases')).name}: {s['cases']} cases "
        f"({s['answerable']} answerable, {s['unanswerable']} unanswerable"
        + (f", {s['errors']} errors" if s["errors"] else "")
        + f"), k={m['k']}, index {m['index_dir']} ({m['documents']} documents, "
        f"{m['chunks']} chunks)"
    )


def terminal(report: Report) -> str:
    """The summary, the per-tag table and the failed cases, for a terminal."""
    s, k = report["summary"], report["meta"]["k"]
    parts = [
        headline(report),
        "",
        table(summary_rows(report), ["", "figure", "value", "measured on"]),
        f"passed {s['passed']}/{s['cases']}; false refusals {s['false_refusals']}; "
        f"citations whose source could not be checked: {s['offsets_unchecked']}",
    ]
    if report["meta"].get("judge"):
        parts.append(str(report["meta"]["judge"]))
    parts += judge_lines(report)
    if report["tags"]:
        parts += ["", table(tag_rows(report), tag_header(k))]
    failed = [c for c in report["cases"] if not c["passed"]]
    if failed:
        parts += ["", f"failed ({len(failed)}):"]
        for c in failed[:TERMINAL_FAILURES]:
            known = " [known miss]" if c.get("xfail") else ""
            answer = c["answer"] if len(c["answer"]) <= 160 else c["answer"][:157] + "..."
            parts.append(f"  {c['id']}{known}: {c['question']}")
            parts += [f"      {p}" for p in c["problems"]]
            if answer:
                parts.append(f"      answer: {answer}")
        if len(failed) > TERMINAL_FAILURES:
            parts.append(f"  … and {len(failed) - TERMINAL_FAILURES} more (--report DIR lists all)")
    return "\n".join(parts)


def _judged(report: Report) -> list[dict[str, Any]]:
    return [c for c in report["cases"] if c.get("judge")]


def judge_lines(report: Report) -> list[str]:
    """How many cases the judge scored, and why it gave no verdict on some (terminal)."""
    judged = _judged(report)
    if not judged:
        return []
    failed = [c for c in judged if c["judge"].get("errors")]
    lines = [f"LLM judge: {len(judged)} cases judged, no verdict on {len(failed)}"]
    for c in failed[:JUDGE_ERRORS_SHOWN]:
        lines += [f"  {c['id']}: {e}" for e in c["judge"]["errors"]]
    if len(failed) > JUDGE_ERRORS_SHOWN:
        lines.append(f"  … and {len(failed) - JUDGE_ERRORS_SHOWN} more (report.json has all)")
    return lines


def judge_markdown(report: Report) -> list[str]:
    """report.md's section on the cases the judge scored below 1 or could not score."""
    judged = _judged(report)
    if not judged:
        return []
    shown = [
        c
        for c in judged
        if c["judge"].get("errors")
        or any(c["judge"].get(key) not in (None, 1.0) for key in ("faithfulness", "correctness"))
    ]
    out = [
        "## LLM judge",
        "",
        f"{len(judged)} cases judged; {len(judged) - len(shown)} scored 1 on everything measured. "
        "Faithfulness: the share of the answer's claims its cited passages support; "
        "correctness: the share of expected facts it states (unanswerable: it declines).",
        "",
    ]
    if shown:
        out += ["| case | faithfulness | correctness | the judge's notes |", "|---|---:|---:|---|"]
        for c in shown[:REPORT_FAILURES]:
            v = c["judge"]
            notes = "; ".join([*(f"**no verdict**: {e}" for e in v.get("errors", [])), v["notes"]])
            out.append(
                f"| `{c['id']}` | {_num(v['faithfulness'], 2)} | {_num(v['correctness'], 2)} "
                f"| {_md_escape(notes.strip('; '))} |"
            )
        out.append("")
    return out


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(report: Report, images: dict[str, str]) -> str:
    """report.md: the figures, the plots (``images``: title -> file name), failures, all cases."""
    m, s, k = report["meta"], report["summary"], report["meta"]["k"]
    settings = ", ".join(f"{key} = {value}" for key, value in m["settings"].items())
    out = [
        f"# Evaluation of {Path(m.get('cases_file', 'cases')).name}",
        "",
        f"{m['created']} · {headline(report)}  ",
        f"Settings: {settings}  ",
        f"{m['judge']}" if m.get("judge") else "",
        "",
        f"**{s['passed']} of {s['cases']} cases passed.**",
        "",
        "## Figures",
        "",
        "| | figure | value | measured on |",
        "|---|---|---:|---:|",
        *(f"| {g} | {f} | {v} | {n} |" for g, f, v, n in summary_rows(report)),
        "",
    ]
    for title, name in images.items():
        out += [f"![{title}]({name})", ""]
    if report["tags"]:
        head = tag_header(k)
        out += [
            "## By tag",
            "",
            "| " + " | ".join(head) + " |",
            "|---" + "|---:" * (len(head) - 1) + "|",
            *("| " + " | ".join(r) + " |" for r in tag_rows(report)),
            "",
        ]
    out += judge_markdown(report)
    failed = [c for c in report["cases"] if not c["passed"]]
    if failed:
        out += ["## Failed cases", ""]
        if len(failed) > REPORT_FAILURES:
            out += [f"The first {REPORT_FAILURES} of {len(failed)}; report.json has them all.", ""]
        for c in failed[:REPORT_FAILURES]:
            known = f" (known miss: {c['xfail']})" if c.get("xfail") else ""
            out += [f"### `{c['id']}`{known}", "", f"**Q:** {c['question']}  "]
            out += [f"**A:** {_md_escape(c['answer'] or c['error'])}  "]
            out += [f"- {_md_escape(p)}" for p in c["problems"]]
            out.append("")
    out += [
        "## All cases",
        "",
        f"| case | passed | facts | first relevant rank (top {k}) | cit. recall | ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for c in report["cases"]:
        rank = next((r["rank"] for r in c["retrieved"] if r["relevant"]), None)
        looked = any(r["relevant"] is not None for r in c["retrieved"])
        ms = "–" if c["latency"] is None else f"{c['latency'] * 1000:.0f}"
        out.append(
            f"| `{c['id']}` | {'yes' if c['passed'] else '**no**'} | "
            f"{_num(c['key_fact_recall'], 2)} | {rank if rank else ('none' if looked else '–')}"
            f" | {_num(c['citation_recall'], 2)} | {ms} |"
        )
    return "\n".join(out) + "\n"


def first_ranks(report: Report) -> list[int | None]:
    """For each answerable case with evidence to look for, the rank of its first hit."""
    ranks: list[int | None] = []
    for c in report["cases"]:
        if c["unanswerable"] or c["error"] or c["hit"] is None:
            continue
        ranks.append(next((r["rank"] for r in c["retrieved"] if r["relevant"]), None))
    return ranks


def write(report: Report, folder: Path) -> list[Path]:
    """report.json, report.md and its PNGs in ``folder`` (created); returns the files."""
    from . import plots  # matplotlib only when a report is written

    folder.mkdir(parents=True, exist_ok=True)
    k = report["meta"]["k"]
    files = [folder / "report.json"]
    files[0].write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    images: dict[str, str] = {}
    if report["tags"]:
        images["Scores by tag"] = plots.tag_scores(report["tags"], k, folder / "tags.png").name
    ranks = first_ranks(report)
    if ranks:
        images["Where the evidence ranks"] = plots.ranks(ranks, k, folder / "ranks.png").name
    seconds = [c["latency"] for c in report["cases"] if c["latency"] is not None]
    images["Latency"] = plots.latency(seconds, folder / "latency.png").name
    md = folder / "report.md"
    md.write_text(markdown(report, images), encoding="utf-8")
    return [*files, *(folder / name for name in images.values()), md]
