"""The local language model: a GGUF file run by llama.cpp on this machine's CPU, no network.

``LocalModel`` ties its parts together: the file (the bundled one, assembled and verified on
first use, or the user's own ``QA_LOCAL_MODEL``), the server process that runs it
(``server.ModelServer``), the queue in which questions take turns (``queue.ModelQueue``), and
the LangChain chat model that talks to the server over the OpenAI-compatible API.
Nothing happens when it is built; the model loads on first use (or on ``start()``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from langchain_core.language_models import BaseChatModel

from .model_file import BUNDLED, ModelFileError, Progress, assembled, check_gguf
from .model_queue import ModelQueue
from .server import VERDICTS_FILE, ModelServer, ServerConfig

__all__ = ["BUNDLED", "LocalModel", "ModelFileError", "model_path"]

BUNDLED_NAME = "bundled"  # QA_LOCAL_MODEL: the model that comes with the package
OFF = "off"


def model_path(
    local_model: str,
    cache_dir: Path,
    sha256: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """The model file to load: the bundled one (assembled and verified) or the user's own."""
    if local_model == BUNDLED_NAME:
        return assembled(BUNDLED, cache_dir, progress)
    return check_gguf(Path(local_model), sha256)


def default_threads() -> int:
    """The cores this process may use: llama.cpp is fastest with one thread per core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover (not Linux)
        return max(1, os.cpu_count() or 1)


class LocalModel:
    def __init__(
        self,
        model_file: Callable[[], Path],
        *,
        name: str,
        threads: int,
        context_tokens: int,
        max_tokens: int,
        temperature: float = 0.0,
        cache_dir: Path | None = None,
        system: str = "",
    ):
        """``cache_dir``: where a runtime found to crash on this CPU is remembered;
        ``system``: the answer prompt's system message, read into the model's cache at start."""
        self.name = name
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.queue = ModelQueue(slots=1)
        self.server = ModelServer(
            model_file,
            ServerConfig(
                alias=name, threads=threads, n_ctx=context_tokens, n_batch=512, system=system
            ),
            verdicts=cache_dir / VERDICTS_FILE if cache_dir is not None else None,
        )
        self._chat_model: BaseChatModel | None = None

    def start(self) -> None:
        """Start loading now, in the background, so that the first question does not wait."""
        self.server.start()

    def chat_model(self) -> BaseChatModel:
        """The server as a LangChain chat model (its address never changes, see server.py)."""
        if self._chat_model is None:
            from langchain_openai import ChatOpenAI

            self._chat_model = ChatOpenAI(
                model=self.name,
                base_url=self.server.base_url,
                api_key=self.server.key,  # type: ignore[arg-type]
                temperature=self.temperature,
                max_retries=0,  # ours: qa/faults.py
                use_responses_api=False,
                # llama-cpp's server reads max_tokens (ChatOpenAI sends max_completion_tokens);
                # no repeat penalty: an answer repeats the passages' names and numbers.
                extra_body={"max_tokens": self.max_tokens, "repeat_penalty": 1.0},
            )
        return self._chat_model

    def close(self) -> None:
        self.server.close()
