"""The web chat over real HTTP on 127.0.0.1, called the way a program would: gradio_client."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from gradio_client import Client

from qa import Assistant
from qa.app import build, inert, render

from .conftest import SEED_FILE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def client(seed_assistant: Assistant) -> Iterator[Client]:
    app = build(seed_assistant)
    port = _free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield Client(
            f"http://127.0.0.1:{port}/",
            verbose=False,
            analytics_enabled=False,
            download_files=False,
        )
    finally:
        app.close()


def test_chat_answers_with_markers_and_sources(client: Client) -> None:
    reply = client.predict(
        "What share of global rare earth processing does China control?", api_name="/ask"
    )
    assert "70 percent" in reply and "\\[1\\]" in reply
    assert "**Sources**" in reply and SEED_FILE.name.replace("-", "\\-").replace(".", ".") in reply


def test_chat_shows_refusals_and_bad_questions_as_messages(client: Client) -> None:
    assert "do not answer" in client.predict("Who won the 2022 FIFA World Cup?", api_name="/ask")
    assert "empty" in client.predict("   ", api_name="/ask")


def test_document_text_is_rendered_inert() -> None:
    planted = (
        '<script>alert(1)</script> <img src=x onerror="alert(2)"> [link](http://evil) **bold**'
    )
    out = inert(planted)
    assert "<script>" not in out and "<img" not in out
    assert "\\[link\\]\\(http://evil\\)" in out and "\\*\\*bold\\*\\*" in out


def test_render_lists_each_citation_under_the_answer(seed_assistant: Assistant) -> None:
    answer = seed_assistant.ask("Which company is the largest rare earth supplier outside China?")
    out = render(answer)
    for c in answer.citations:
        assert f"{c.n}\\." in out and f"chars {c.start}–{c.end}" in out
