"""``python -m qa eval`` as a user runs it: report files, a planted regression, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow

SEED_CASES = "tests/eval/seed_qa.jsonl"


def _eval(*args: str, index: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qa", "eval", *args, "--index-dir", str(index), "-q"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_eval_writes_the_report_and_compare_flags_a_planted_regression(
    seed_index: Path, tmp_path: Path
) -> None:
    base = _eval(SEED_CASES, "--report", str(tmp_path / "base"), index=seed_index)
    assert base.returncode == 0, base.stderr
    report = json.loads((tmp_path / "base" / "report.json").read_text())
    s = report["summary"]
    assert s["cases"] == 36 and s["offsets_exact"] == 1.0 and s["offsets_unchecked"] == 0
    assert f"passed {s['passed']}/36" in base.stdout and "hit@10" in base.stdout
    for name in ("report.md", "tags.png", "ranks.png", "latency.png"):
        assert (tmp_path / "base" / name).stat().st_size > 1000, name

    # The regression: a refusal threshold so strict that answerable questions get refused.
    worse = _eval(
        SEED_CASES,
        "--compare",
        str(tmp_path / "base" / "report.json"),
        index=seed_index,
        QA_REFUSAL_THRESHOLD="0.6",
    )
    assert worse.returncode == 1, worse.stdout + worse.stderr
    comparison = worse.stdout.split("compared with")[1]
    assert "REGRESSION" in comparison and "regression(s) beyond tolerance" in comparison
    assert "false refusals" in comparison and "newly failing:" in comparison

    same = _eval(SEED_CASES, "--compare", str(tmp_path / "base" / "report.json"), index=seed_index)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "no regression beyond tolerance" in same.stdout


def test_bad_input_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok?"}\n{"id": 3, "match": "some"}\n')
    run = _eval(str(bad), index=tmp_path / "none")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "bad.jsonl:2: 'question' is missing" in run.stderr and "'match' must be" in run.stderr
    missing = _eval(SEED_CASES, "--compare", str(tmp_path / "old.json"), index=tmp_path / "none")
    assert missing.returncode == 2 and "no report to compare with" in missing.stderr
    no_index = _eval(SEED_CASES, index=tmp_path / "none")
    assert no_index.returncode == 2 and "python -m ingest" in no_index.stderr
