"""The LLM judge as a user runs it: ``python -m qa eval --judge`` and ``pytest --eval-judge``.

The judge model is the stand-in of tests/judge_model.py behind the scripted server, reached
over HTTP from another process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from qa.cli import main
from qa.eval import load_cases, write_cases

from .conftest import ROOT
from .judge_model import judging, kind
from .llm_server import LLMServer, Reply

pytestmark = pytest.mark.slow

SEED_CASES = ROOT / "tests" / "eval" / "seed_qa.jsonl"


def _cases(tmp_path: Path, *ids: str) -> Path:
    cases = {c.id: c for c in load_cases(SEED_CASES)[0]}
    path = tmp_path / "cases.jsonl"
    write_cases(path, [cases[i] for i in ids])
    return path


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_eval_with_judge_end_to_end(
    llm_server: LLMServer, seed_index: Path, tmp_path: Path
) -> None:
    llm_server.default = judging
    # china-share is quoted and right; japan-pm is answered though the documents do not
    # answer it (a known miss); texas-plant is refused, which the judge need not be asked.
    cases = _cases(tmp_path, "china-share", "japan-pm", "texas-plant")
    env = {"OPENAI_BASE_URL": llm_server.base_url, "QA_JUDGE_MODEL": "judge"}
    out = tmp_path / "report"
    args = ("-m", "qa", "eval", str(cases), "--index-dir", str(seed_index), "-q")
    done = _run(*args, "--judge", "--report", str(out), **env)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    s = report["summary"]
    assert (s["judge_faithfulness"], s["judge_correctness"], s["judge_failures"]) == (
        1.0,
        0.6667,
        0,
    )
    assert report["meta"]["judge"] == f"LLM judge: judge ({llm_server.base_url})"
    asked = [(kind(r.body), r.body["model"]) for r in llm_server.requests]
    assert asked == [
        ("faithfulness", "judge"),
        ("correctness", "judge"),
        ("faithfulness", "judge"),
        ("refusal", "judge"),
    ]
    assert "faithfulness" in done.stdout and "LLM judge: 3 cases judged" in done.stdout
    md = (out / "report.md").read_text()
    assert "| `japan-pm` | 1.00 | 0.00 | answers a question the documents do not answer" in md

    assert len(llm_server.requests) == 4


def test_eval_says_why_the_judge_did_not_run(
    seed_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    index = tmp_path / "index"  # a copy: this process has the session's index open
    shutil.copytree(seed_index, index)
    cases = _cases(tmp_path, "china-share", "texas-plant")
    args = ["--index-dir", str(index), "eval", str(cases), "-q"]

    assert main([*args, "--judge"]) == 0  # asked for, but no model configured
    out, err = capsys.readouterr()
    assert "warning: --judge: LLM judge skipped: no judge LLM is configured" in err
    assert "LLM judge skipped: no judge LLM is configured" in out

    monkeypatch.setenv("QA_JUDGE_MODEL", "judge")
    assert main(args) == 0  # configured, but not asked for
    assert "LLM judge skipped: not asked for (--judge would ask judge)" in capsys.readouterr().out
    assert main([*args, "--judge"]) == 2  # a model, but no endpoint
    err = capsys.readouterr().err
    assert err.startswith("error: the judge model is 'judge', but neither OPENAI_API_KEY")


def _harsh(body: dict[str, Any]) -> Reply:
    """A judge that supports no claim."""
    reply = judging(body)
    assert isinstance(reply, Reply)
    return Reply(reply.text.replace('"supported": true', '"supported": false'))


def test_pytest_eval_judge_option(llm_server: LLMServer, seed_index: Path, tmp_path: Path) -> None:
    cases = _cases(tmp_path, "australia-deal", "largest-supplier", "texas-plant", "capital-france")
    args = (
        *("-m", "pytest", "tests/eval/test_seed_eval.py", "-p", "no:cacheprovider", "-rA"),
        *("--eval-index", str(seed_index)),
    )
    env = {"OPENAI_BASE_URL": llm_server.base_url, "QA_JUDGE_MODEL": "judge"}
    llm_server.default = judging
    judged = _run(*args, "--eval-cases", str(cases), "--eval-judge", **env)
    assert judged.returncode == 0, judged.stdout[-3000:]
    assert "PASSED tests/eval/test_seed_eval.py::test_judge_figures" in judged.stdout
    assert len(llm_server.requests) == 4  # two answered cases, two calls each

    llm_server.default = _harsh
    harsh = _run(*args, "--eval-cases", str(cases), **env, QA_EVAL_JUDGE="1")
    assert harsh.returncode == 1
    assert "FAILED tests/eval/test_seed_eval.py::test_judge_figures" in harsh.stdout
    assert "'judge_faithfulness': 0.0" in harsh.stdout

    # Without the option: test_judge_figures is skipped, saying why, and no judge is asked.
    asked = len(llm_server.requests)
    plain = _run(*args, "--eval-cases", str(cases), **env)
    assert plain.returncode == 0, plain.stdout[-3000:]
    skipped = r"SKIPPED \[1\] tests/eval/test_seed_eval\.py:\d+: LLM judge skipped: not asked for"
    assert re.search(skipped, plain.stdout), plain.stdout[-3000:]
    assert "PASSED tests/eval/test_seed_eval.py::test_judge_figures" not in plain.stdout
    assert len(llm_server.requests) == asked
