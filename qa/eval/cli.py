"""``python -m qa eval CASES.jsonl [--k 10] [--report DIR] [--compare OLD.json] [--judge]``.

Exit status: 0 evaluated (whatever the scores), 1 a regression against --compare beyond the
tolerance, 2 bad input (case file, report to compare with, settings, missing index).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..assistant import Assistant
from ..settings import Settings
from .cases import load_cases
from .compare import DEFAULT_TOLERANCE, compare, format_comparison
from .judge import NO_JUDGE
from .llm_judge import LLMJudge, judge_model_name, make_judge
from .report import terminal, write
from .runner import evaluate
from .sources import SourceTexts


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("cases", type=Path, help="JSONL file of cases (format: see README)")
    p.add_argument("--k", type=int, default=10, help="retrieval depth for hit@k, MRR (default 10)")
    p.add_argument("--report", type=Path, metavar="DIR", help="write report.json, report.md, PNGs")
    p.add_argument("--compare", type=Path, metavar="OLD.json", help="an earlier report.json")
    p.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help=f"largest allowed drop of a score with --compare (default {DEFAULT_TOLERANCE})",
    )
    p.add_argument(
        "--max-slowdown",
        type=float,
        metavar="RATIO",
        help="with --compare, also fail when ask latency grows by more than this (0.5 = 50%%)",
    )
    p.add_argument(
        "--docs",
        type=Path,
        metavar="DIR",
        help="folder the index was built from (default: the paths the index recorded)",
    )
    p.add_argument(
        "--judge",
        action="store_true",
        help="also score faithfulness and correctness with the LLM judge "
        "($QA_JUDGE_MODEL, else $QA_LLM_MODEL, on OPENAI_BASE_URL)",
    )
    p.add_argument("--judge-model", metavar="NAME", help="the judge's model (implies --judge)")
    p.add_argument("--mode", choices=["auto", "extractive", "llm"], help="answer mode")
    # SUPPRESS: `eval --index-dir X` and `--index-dir X eval` both work, neither clobbers.
    p.add_argument("--index-dir", default=argparse.SUPPRESS, help="index folder")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _read_report(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"no report to compare with at {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read {path} as report.json: {err}") from None
    if not isinstance(data, dict) or not {"meta", "summary", "cases"} <= data.keys():
        raise ValueError(f"{path} is not a report.json of `python -m qa eval`")
    return data


def _judge(args: argparse.Namespace, settings: Settings) -> tuple[LLMJudge | None, dict[str, Any]]:
    """The LLM judge when asked for and configured; else why there is none, for the report."""
    if args.judge_model:
        settings = settings.model_copy(update={"judge_model": args.judge_model})
    if args.judge or args.judge_model:
        judge = make_judge(settings)  # SettingsError: a model is named but no endpoint
        if judge is None:
            print(f"warning: --judge: {NO_JUDGE}", file=sys.stderr)
        return judge, {}
    name = judge_model_name(settings)
    if name:
        return None, {"judge": f"LLM judge skipped: not asked for (--judge would ask {name})"}
    return None, {}


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Evaluate; raises ValueError (and the index errors) for the caller to report."""
    if args.k < 1:
        raise ValueError("--k must be at least 1")
    if args.docs is not None and not args.docs.is_dir():
        raise ValueError(f"--docs {args.docs}: no such folder")
    old = _read_report(args.compare) if args.compare else None
    cases, warnings = load_cases(args.cases)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    judge, meta = _judge(args, settings)
    assistant = Assistant(settings)
    with tqdm(total=len(cases), desc="cases", file=sys.stderr, disable=args.quiet or None) as bar:
        result = evaluate(
            assistant,
            cases,
            k=args.k,
            sources=SourceTexts(assistant.index.records, args.docs),
            judge=judge,
            on_progress=lambda done, total: bar.update(1),
            meta={"cases_file": str(args.cases), **meta},
        )
    report = result.to_dict()
    print(terminal(report))
    if args.report:
        files = write(report, args.report)
        print(f"\nreport: {', '.join(str(f) for f in files)}")
    if old is None:
        return 0
    comparison = compare(old, report, tolerance=args.tolerance, max_slowdown=args.max_slowdown)
    print(f"\ncompared with {args.compare}:")
    print(format_comparison(comparison, args.k))
    return 1 if comparison.regressions else 0
