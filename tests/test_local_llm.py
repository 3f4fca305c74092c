"""The local model for real: the bundled GGUF, run by llama-cpp's server on this CPU.

These load the real model (2 GB, a few seconds) once for the module and ask it real
questions; the scripted server of test_llm.py stays the place for HTTP faults. Deadlines
are generous: a busy machine makes the model slow, and these tests are about what it says.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa import Assistant, Settings
from qa.extractive import REFUSAL_TEXT
from qa.faults import LLMUnavailable
from qa.llm import LLM, make_llm
from qa.pipeline import GATED_NOTICE
from qa.types import Answer, Retrieved, Status

from .conftest import ROOT, SEED_FILE

pytestmark = pytest.mark.slow

CHINA = "What share of global rare earth processing does China control?"
PARTNERS = "Which two countries are described as Washington's key partners in this strategy?"
SLOW_MACHINE = 600.0  # seconds: an answer's deadline here (the default is 30)


@pytest.fixture(scope="module")
def local_llm() -> Iterator[LLM]:
    llm = make_llm(Settings(local_model="bundled", llm_timeout=SLOW_MACHINE))
    assert llm is not None and llm.local is not None
    try:  # a model that cannot run here fails every test at once, saying why
        llm.local.server.ready(SLOW_MACHINE)
    except LLMUnavailable as err:
        llm.local.close()
        pytest.fail(f"the local model cannot answer: {err}")
    yield llm
    llm.local.close()


@pytest.fixture
def assistant(local_llm: LLM, seed_assistant: Assistant) -> Assistant:
    settings = seed_assistant.settings.model_copy(
        update={"local_model": "bundled", "llm_timeout": SLOW_MACHINE}
    )
    return Assistant(
        settings, embeddings=seed_assistant.embeddings, index=seed_assistant.index, llm=local_llm
    )


def _exact(a: Answer) -> None:
    source = SEED_FILE.read_text(encoding="utf-8")
    for c in a.citations:
        assert source[c.start : c.end] == c.quote


def test_a_seed_question_is_answered_by_the_model_and_cited(assistant: Assistant) -> None:
    a = assistant.ask(CHINA)
    assert (a.mode, a.refused, a.notice) == ("llm", False, "")
    assert a.model == "qwen2.5-coder-1.5b-instruct-q4_k_m (local)"
    assert "70 percent" in a.text and "[1]" in a.text
    assert "70 percent" in a.citations[0].quote
    _exact(a)


def test_both_partners_are_named_and_each_claim_is_cited(assistant: Assistant) -> None:
    """The question a new user tried: the extractive scorer refused it."""
    a = assistant.ask(PARTNERS)
    assert a.mode == "llm" and not a.refused
    assert "Japan" in a.text and "Australia" in a.text
    assert any("Japan and Australia" in c.quote for c in a.citations)
    _exact(a)


def test_a_question_the_documents_do_not_answer_is_refused(
    assistant: Assistant, local_llm: LLM
) -> None:
    question = "Who won the 2022 FIFA World Cup final?"
    a = assistant.ask(question)  # refused before the model is asked
    assert a.refused and a.text == REFUSAL_TEXT and a.citations == []
    assert a.notice == GATED_NOTICE
    # Asked anyway, the model refuses, or its unsupported answer gives way to the refusal.
    ungated = Assistant(
        assistant.settings.model_copy(update={"llm_refusal_gate": False}),
        embeddings=assistant.embeddings,
        index=assistant.index,
        llm=local_llm,
    ).ask(question)
    assert ungated.refused and ungated.text == REFUSAL_TEXT and ungated.citations == []
    assert ungated.notice != GATED_NOTICE


def test_the_answer_streams_in_pieces_after_the_model_status(assistant: Assistant) -> None:
    events = list(assistant.events(CHINA))
    *pieces, answer = events
    texts = [e for e in pieces if isinstance(e, str)]
    assert isinstance(answer, Answer) and answer.mode == "llm"
    assert len(texts) >= 3  # token by token, not one block at the end
    assert all(isinstance(e, str | Status | Retrieved) for e in pieces)
    assert "70 percent" in "".join(texts)


def test_a_killed_model_falls_back_with_a_notice_and_the_next_question_restarts_it(
    assistant: Assistant, local_llm: LLM
) -> None:
    local = local_llm.local
    assert local is not None
    local.server.ready(SLOW_MACHINE)
    starts = local.server.starts
    events = assistant.events(CHINA)
    got: list[object] = []
    for event in events:
        got.append(event)
        if isinstance(event, str) and event:  # the model is writing: kill it
            pid = local.server.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            break
    got.extend(events)
    answer = got[-1]
    assert isinstance(answer, Answer)
    assert answer.mode == "extractive" and "70 percent" in answer.text
    assert "killed" in answer.notice and "quoted from the documents" in answer.notice
    again = assistant.ask(CHINA)
    assert again.mode == "llm" and local.server.starts == starts + 1


def test_a_question_waits_its_turn_and_sees_its_place(assistant: Assistant) -> None:
    first_writing = threading.Event()
    results: list[Answer] = []

    def first() -> None:
        for event in assistant.events(CHINA):
            if isinstance(event, str):
                first_writing.set()
            if isinstance(event, Answer):
                results.append(event)

    thread = threading.Thread(target=first)
    thread.start()
    assert first_writing.wait(SLOW_MACHINE)
    statuses = [e for e in assistant.events(PARTNERS) if isinstance(e, Status)]
    thread.join(SLOW_MACHINE)
    assert statuses[0].ahead == 1 and "1 question ahead" in statuses[0].text
    assert results and results[0].mode == "llm"


def test_a_corrupt_model_file_falls_back_with_the_reason(
    seed_assistant: Assistant, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + os.urandom(4096))
    settings = seed_assistant.settings.model_copy(
        update={"local_model": str(broken), "llm_timeout": SLOW_MACHINE}
    )
    assistant = Assistant(
        settings, embeddings=seed_assistant.embeddings, index=seed_assistant.index
    )
    try:
        a = assistant.ask(CHINA)
        assert a.mode == "extractive" and "70 percent" in a.text
        assert a.notice.startswith("The LLM could not answer (the local model failed to load (")
        assert "quoted from the documents" in a.notice
        b = assistant.ask(CHINA)  # not tried again at once: the same reason, at once
        assert b.notice == a.notice
    finally:
        assistant.close()


def test_a_missing_model_file_is_named_in_the_notice(seed_assistant: Assistant) -> None:
    settings = seed_assistant.settings.model_copy(update={"local_model": "/no/such/model.gguf"})
    assistant = Assistant(
        settings, embeddings=seed_assistant.embeddings, index=seed_assistant.index
    )
    a = assistant.ask(CHINA)
    assert a.mode == "extractive"
    assert "no model file at /no/such/model.gguf (QA_LOCAL_MODEL)" in a.notice


def test_the_cli_answers_with_the_local_model_by_default(seed_index: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "OPENAI_"))}
    env |= {"QA_INDEX_DIR": str(seed_index), "QA_LLM_TIMEOUT": str(SLOW_MACHINE)}
    done = subprocess.run(
        [sys.executable, "-m", "qa", "ask", CHINA, "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SLOW_MACHINE + 120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["mode"] == "llm" and "70 percent" in answer["text"]
    assert answer["model"].endswith("(local)") and answer["citations"]
