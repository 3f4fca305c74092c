"""The web chat over real HTTP on 127.0.0.1, called the way a program would: gradio_client."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from gradio_client import Client

from qa import Answer, Assistant, Settings
from qa.app import build, inert, render, to_history

from .conftest import SEED_FILE
from .llm_server import Hang, LLMServer, Reply, Responder, is_condense, question_in


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


def answering(text: str, **pacing: float) -> Responder:
    """Replies ``text``; a follow-up's rewrite gets the question back.

    The chat keeps its history across calls, so any question may be a follow-up.
    """

    def respond(body: dict[str, Any]) -> Reply:
        return Reply(question_in(body)) if is_condense(body) else Reply(text, **pacing)

    return respond


@pytest.fixture(scope="module")
def llm_app(seed_assistant: Assistant) -> Iterator[tuple[Client, LLMServer]]:
    """The chat over an assistant whose LLM is the scripted server (module-wide)."""
    with LLMServer() as server:
        assistant = Assistant(
            Settings(
                index_dir=seed_assistant.settings.index_dir,
                llm_model="scripted",
                openai_base_url=server.base_url,
                llm_timeout=2.0,
            ),
            embeddings=seed_assistant.embeddings,
            index=seed_assistant.index,
        )
        app = build(assistant)
        port = _free_port()
        app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        try:
            client = Client(
                f"http://127.0.0.1:{port}/",
                verbose=False,
                analytics_enabled=False,
                download_files=False,
            )
            yield client, server
        finally:
            app.close()


def test_chat_streams_the_llm_answer_then_shows_its_sources(
    llm_app: tuple[Client, LLMServer],
) -> None:
    client, server = llm_app
    server.reset()
    server.script(
        Reply("China controls about 70 percent of rare earth processing [4].", chunk_delay=0.05)
    )
    job = client.submit(
        "What share of global rare earth processing does China control?", api_name="/ask"
    )
    final = job.result(timeout=60)
    shown = job.outputs()
    assert len(shown) > 3 and all(s.endswith("▍") for s in shown[:-1])  # text as it arrived
    assert shown[-2].startswith("China controls about")
    assert "**Sources**" in final and "70 percent" in final and "▍" not in final


def test_chat_lists_unsupported_sentences_and_survives_a_hanging_llm(
    llm_app: tuple[Client, LLMServer],
) -> None:
    client, server = llm_app
    server.reset()
    server.default = answering("Lynas Rare Earths mines gold on the Moon [1].")
    reply = client.predict("Which company is the largest supplier outside China?", api_name="/ask")
    assert "Not supported by the cited passages" in reply and "gold on the Moon" in reply
    server.default = lambda body: Hang()
    started = time.perf_counter()
    reply = client.predict("Which company is the largest supplier outside China?", api_name="/ask")
    assert time.perf_counter() - started < 2.0 + 3.0
    assert "The LLM could not answer" in reply and "Lynas" in reply


def test_earlier_replies_go_back_to_the_assistant_as_plain_answers() -> None:
    shown = render(
        Answer(
            text="Lynas [1] is *big*.",
            citations=[],
            refused=False,
            mode="llm",
            notice="note",
            unsupported=["x"],
        )
    )
    history = to_history(
        [{"role": "user", "content": "Who?"}, {"role": "assistant", "content": shown}]
    )
    assert history == [
        {"role": "user", "content": "Who?"},
        {"role": "assistant", "content": "Lynas [1] is *big*."},
    ]
