"""Bad text in a question, at every entry point: a ValueError or a one-line error with the
reason, never a traceback (issue 15, item 6)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qa import Assistant

from .conftest import ROOT
from .webapp import client, serving

LONE = "What share of \ud800 processing does China control?"


@pytest.mark.parametrize(
    ("question", "history", "message"),
    [
        (LONE, None, r"not valid Unicode text: character 15 is a lone surrogate \(U\+D800\)"),
        ("caf\udce9 prices?", None, r"lone surrogate \(U\+DCE9\)"),
        ("China?", "notalist", "history must be a list of .* not str"),
        ("China?", {"role": "user"}, "history must be a list of .* not dict"),
        ("China?", ["hello"], r"history\[0\] is not a message"),
        ("China?", [{"role": "user", "content": "x\udfffy"}], r"history\[0\] is not valid"),
        (b"China?", None, "must be text \\(str\\), not bytes"),
        (42, None, "must be text \\(str\\), not int"),
    ],
)
def test_bad_text_is_a_value_error_with_the_reason(
    seed_assistant: Assistant, question: Any, history: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        seed_assistant.ask(question, history)
    with pytest.raises(ValueError, match=message):
        list(seed_assistant.stream(question, history))
    if history is None:
        with pytest.raises(ValueError, match=message):
            seed_assistant.retrieve(question)


def test_other_roles_and_empty_messages_in_a_history_are_still_dropped(
    seed_assistant: Assistant,
) -> None:
    history = [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "  "},
        {"role": "user", "content": "Which company is the largest supplier outside China?"},
    ]
    answer = seed_assistant.ask("Where have its operations faced hurdles?", history)
    assert "Malaysia" in answer.text


def test_a_question_that_is_not_utf8_on_the_command_line_is_a_one_line_error(
    seed_index: Path,
) -> None:
    env = {**os.environ, "QA_INDEX_DIR": str(seed_index)}
    done = subprocess.run(
        [sys.executable, "-m", "qa", "ask", b"caf\xe9 prices?"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=300,
    )
    err = done.stderr.decode("utf-8", "replace").strip()
    assert done.returncode == 2, err
    assert err.startswith("error: the question is not valid Unicode text") and "\n" not in err


@pytest.fixture(scope="module")
def app_url(seed_assistant: Assistant) -> Iterator[str]:
    with serving(seed_assistant) as url:
        yield url


def _call(url: str, body: bytes) -> str:
    """The /ask endpoint over plain HTTP (Gradio's two-step call): what its stream says.
    gradio_client cannot send a lone surrogate at all (it fails to encode it), but JSON can
    carry one ("\\ud800"), and so can any other client."""
    started = httpx.post(
        f"{url}gradio_api/call/ask",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert started.status_code == 200, started.text
    event = started.json()["event_id"]
    return httpx.get(f"{url}gradio_api/call/ask/{event}", timeout=60).text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (rb'["What share of \ud800 processing?", null', "lone surrogate (U+D800)"),
        (rb'["China?", "notalist"', "history must be a list"),
        (rb'["China?", [{"role": "user", "content": "\udc80"}]', "history[0] is not"),
    ],
)
def test_the_http_api_gives_the_reason(app_url: str, body: bytes, message: str) -> None:
    said = _call(app_url, b'{"data": ' + body + b', "extractive", 6]}')
    assert "event: error" in said and message in said, said


def test_the_api_client_still_gets_answers(app_url: str) -> None:
    answer = client(app_url).predict(
        question="What share of global rare earth processing does China control?", api_name="/ask"
    )
    assert "70 percent" in answer["text"]


def test_one_source_name_instead_of_a_list_is_refused(seed_index: Path) -> None:
    import qa

    with pytest.raises(ValueError, match=r"sources must be a list of source names, such as \["):
        qa.filters(sources="us-strikes-strategic-mineral-deals-in-asia.txt")
