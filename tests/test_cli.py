"""The command lines as a user runs them: separate processes, real index, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, SEED_FILE

pytestmark = pytest.mark.slow


def _run(*args: str, index: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QA_INDEX_DIR": str(index)}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_ingest_then_ask_from_the_command_line(tmp_path: Path) -> None:
    index = tmp_path / "idx"
    first = _run("-m", "ingest", "-q", "seeds", index=index)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().startswith("1 added, 0 updated, 0 unchanged, 0 deleted, 0 failed")
    again = _run("-m", "ingest", "-q", "seeds", index=index)
    assert "0 added, 0 updated, 1 unchanged" in again.stdout and "0 chunks embedded" in again.stdout

    out = _run(
        "-m",
        "qa",
        "ask",
        "What share of global rare earth processing does China control?",
        "--json",
        index=index,
    )
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert "70 percent" in answer["text"] and answer["refused"] is False
    quote = answer["citations"][0]
    assert SEED_FILE.read_text(encoding="utf-8")[quote["start"] : quote["end"]] == quote["quote"]

    text = _run(
        "-m", "qa", "ask", "Which company is the largest supplier outside China?", index=index
    )
    assert (
        "Lynas" in text.stdout
        and "Sources:" in text.stdout
        and "[1] " + SEED_FILE.name in text.stdout
    )


def test_failed_files_set_exit_status_one_and_bad_input_two(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "ok.txt").write_text("This file is fine. It has text.")
    (folder / "broken.txt").write_bytes(b"\xff\xfe\x00\x00binary")
    run = _run("-m", "ingest", "-q", str(folder), index=tmp_path / "idx")
    assert run.returncode == 1
    assert "failed: " in run.stderr and "broken.txt" in run.stderr and "Traceback" not in run.stderr
    assert "1 added" in run.stdout

    empty = _run("-m", "qa", "ask", "   ", index=tmp_path / "idx")
    assert (
        empty.returncode == 2
        and "question is empty" in empty.stderr
        and "Traceback" not in empty.stderr
    )
    missing = _run("-m", "qa", "ask", "anything?", index=tmp_path / "none")
    assert missing.returncode == 2 and "python -m ingest" in missing.stderr


def test_an_extractive_answer_loads_no_llm_client(tmp_path: Path) -> None:
    """Start-up is mostly imports: `qa ask` without an LLM must not pay for the OpenAI client
    (about a second) or the web app's Gradio."""
    index = tmp_path / "idx"
    assert _run("-m", "ingest", "-q", "seeds", index=index).returncode == 0
    code = (
        "import sys; from qa.cli import main; main(['ask', 'What does China control?']); "
        "print(sorted(m for m in ('openai', 'langchain_openai', 'gradio') if m in sys.modules))"
    )
    run = _run("-c", code, index=index)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "[]"
