"""A local model whose runtime crashes on this CPU: found at start, said plainly, never retried.

The model's process is the real serve_model.py loading the real bundled model, with one fault
injected (tests/crashing_model_server.py): its start-up self-test segfaults, as llama.cpp's AMX
kernels did on some cloud VMs on the first long prompt.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from qa import Assistant, Settings
from qa.llm import LLM
from qa.local import LocalModel, model_path
from qa.local.server import VERDICTS_FILE, ModelServer
from qa.types import Answer

from .conftest import ROOT

pytestmark = pytest.mark.slow

CHINA = "What share of global rare earth processing does China control?"
CRASHING = ROOT / "tests" / "crashing_model_server.py"


def _crashing_llm(settings: Settings, verdicts: Path) -> LLM:
    def model_file() -> Path:
        return model_path("bundled", settings.cache_dir)

    local = LocalModel(
        model_file,
        name="crashing",
        threads=2,
        context_tokens=2048,
        max_tokens=64,
        cache_dir=verdicts,
    )
    local.server.close()
    local.server = ModelServer(
        model_file, local.server.config, verdicts=verdicts / VERDICTS_FILE, script=CRASHING
    )
    return LLM(local.chat_model(), "crashing (local)", local)


def _ask(seed_assistant: Assistant, llm: LLM) -> tuple[Answer, float]:
    settings = seed_assistant.settings.model_copy(update={"llm_timeout": 600.0})
    assistant = Assistant(
        settings, embeddings=seed_assistant.embeddings, index=seed_assistant.index, llm=llm
    )
    began = time.monotonic()
    answer = assistant.ask(CHINA)
    return answer, time.monotonic() - began


def test_a_crash_on_the_self_test_marks_the_model_unusable_with_the_fix(
    seed_assistant: Assistant, tmp_path: Path
) -> None:
    settings = Settings()
    llm = _crashing_llm(settings, tmp_path)
    assert llm.local is not None
    try:
        first, _ = _ask(seed_assistant, llm)
        # The question is answered from the documents, and the notice says what to do.
        assert first.mode == "extractive" and "70 percent" in first.text
        notice = first.notice
        assert "crashed on its start-up test" in notice
        assert "a segmentation fault (SIGSEGV)" in notice
        assert "make rebuild-llama" in notice and "its features:" in notice
        assert "built for:" in notice and "AVX2" in notice.split("built for:")[1]
        assert llm.local.server.starts == 1
        # Later questions: the same answer at once, and the model is not started again.
        second, seconds = _ask(seed_assistant, llm)
        assert second.notice == notice and second.mode == "extractive"
        assert llm.local.server.starts == 1 and seconds < 5
    finally:
        llm.local.close()
    # Another process (a new model server) knows it from the verdict file: not even started.
    again = _crashing_llm(settings, tmp_path)
    assert again.local is not None
    try:
        third, seconds = _ask(seed_assistant, again)
        assert third.notice == notice and again.local.server.starts == 0 and seconds < 5
    finally:
        again.local.close()
