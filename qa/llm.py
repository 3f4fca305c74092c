"""The LLM path's parts: the model from settings, and the condense and answer chains.

The model is the configured endpoint's when ``QA_LLM_MODEL`` is set: any OpenAI-compatible
server (OpenAI, vLLM, Ollama, llama.cpp, LM Studio), as ``ChatOpenAI`` with ``base_url`` on the
Chat Completions API. Otherwise it is the local model (``qa.local``), which runs behind the
same API on 127.0.0.1. Retries are ours (qa/faults.py), so the client's own are off: its
backoff would not respect the answer's deadline.

Evidence reaches the model only inside the user message (qa/reply.py); nothing from a
document is ever put in the system message. The local model writes under a grammar (llama.cpp's
GBNF, sent as the request's ``grammar``); so does an endpoint with ``QA_LLM_GRAMMAR=1`` (a
llama.cpp server). Other endpoints take no grammar: their replies are read strictly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable

from ingest.settings import SettingsError

from . import local
from .local import LocalModel
from .prompts import render
from .settings import Settings
from .types import Passage

_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_HISTORY_TURNS = 6  # messages of the conversation shown to the condense prompt
_HISTORY_CHARS = 1500  # of each message: enough to name what a follow-up refers to


@dataclass
class LLM:
    """The model of the LLM path: a chat model, and for the local one its server and queue."""

    chat_model: BaseChatModel
    name: str  # for notices: "qwen2.5-coder-1.5b-instruct (local)", "gpt-4.1-mini"
    local: LocalModel | None = None
    grammar: bool = False  # it takes llama.cpp's ``grammar`` (the local model does)


def llm_configured(settings: Settings) -> bool:
    """An endpoint's model is configured (it takes precedence over the local one)."""
    return bool(settings.llm_model)


def make_llm(settings: Settings) -> LLM | None:
    """The configured endpoint's model, else the local one, else None (quotes only).

    Nothing loads here: the local model starts on first use (or ``llm.local.start()``).
    """
    if llm_configured(settings):
        return LLM(make_chat_model(settings), str(settings.llm_model), grammar=settings.llm_grammar)
    if settings.local_model == local.OFF:
        return None
    if settings.local_model == local.BUNDLED_NAME:
        name = local.BUNDLED.name.removesuffix(".gguf")
    else:
        name = Path(settings.local_model).stem
    model = local.LocalModel(
        partial(
            local.model_path,
            settings.local_model,
            settings.cache_dir,
            settings.local_model_sha256,
        ),
        name=name,
        threads=settings.local_threads or local.default_threads(),
        context_tokens=settings.local_context_tokens,
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
        cache_dir=settings.cache_dir,
        # subtle: the system message never changes (prompts/answer.yaml), so the model reads
        # it once, at start, and every question reuses it from llama.cpp's cache.
        system=render("answer", settings.prompts_dir, question="", groups=[])[0]["content"],
    )
    return LLM(model.chat_model(), f"{name} (local)", model, grammar=True)


def make_chat_model(settings: Settings) -> BaseChatModel:
    """``ChatOpenAI`` for the configured endpoint; a local server needs no real key."""
    from langchain_openai import ChatOpenAI

    if not settings.llm_model:
        raise SettingsError("no LLM is configured: set QA_LLM_MODEL (and OPENAI_BASE_URL)")
    if not settings.openai_api_key and not settings.openai_base_url:
        raise SettingsError(
            "QA_LLM_MODEL is set, but neither OPENAI_API_KEY (for OpenAI) nor OPENAI_BASE_URL "
            "(for your own server) is"
        )
    return ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key or "unused",  # type: ignore[arg-type]
        temperature=settings.llm_temperature,
        max_completion_tokens=settings.llm_max_tokens,
        timeout=settings.llm_timeout,
        max_retries=0,
        use_responses_api=False,  # other servers speak only Chat Completions
    )


def messages_of(rendered: list[dict[str, str]]) -> list[BaseMessage]:
    kinds = {"system": SystemMessage, "user": HumanMessage}
    return [kinds[m["role"]](content=m["content"]) for m in rendered]


def text_chain(model: Runnable[Any, Any]) -> Runnable[Any, str]:
    """Messages -> the model's reply as text (for ``.invoke``; streams: ``text_stream``)."""
    return model | StrOutputParser()


def text_stream(model: Runnable[Any, Any], messages: list[BaseMessage]) -> Iterator[str]:
    """The model's reply as text, in pieces as they come.

    subtle: not ``text_chain(model).stream``: closing a RunnableSequence's stream early leaves
    the HTTP response open (langchain-core 1.8), so a stopped answer would keep the model
    writing and holding its turn. The model's own stream closes its response.
    """
    chunks = model.stream(messages)
    try:
        for chunk in chunks:
            if text := chunk.text:
                yield text
    finally:
        close = getattr(chunks, "close", None)  # typed as an Iterator, made as a generator
        if close is not None:
            close()


def constrained(model: BaseChatModel, grammar: str | None) -> Runnable[Any, Any]:
    """The model writing under ``grammar`` (GBNF), when one is given and it is an
    OpenAI-compatible client (the grammar goes in the request body)."""
    from langchain_openai.chat_models.base import BaseChatOpenAI

    if grammar is None or not isinstance(model, BaseChatOpenAI):
        return model
    # subtle: a bound extra_body replaces the model's own (max_tokens, repeat_penalty): merge.
    return model.bind(extra_body={**(model.extra_body or {}), "grammar": grammar})


def with_timeout(model: Runnable[Any, Any], seconds: float) -> Runnable[Any, Any]:
    """The model with an HTTP timeout of ``seconds`` for one attempt, when it takes one."""
    from langchain_openai.chat_models.base import BaseChatOpenAI

    # subtle: other chat models may pass unknown keyword arguments on to their API.
    client = getattr(model, "bound", model)  # under a binding (``constrained``)
    return model.bind(timeout=seconds) if isinstance(client, BaseChatOpenAI) else model


def published(p: Passage) -> str:
    """Who published the passage's document and when ("TechCrunch, October 7, 2023"), as far
    as known: questions name them ("the TechCrunch article of October 7"), and a model not
    shown them guesses which passage is whose."""
    when = ""
    with contextlib.suppress(TypeError, ValueError):  # no day, or not one (YYYYMMDD)
        day = int(p.metadata.get("published_day"))  # type: ignore[arg-type]
        d = dt.date(day // 10000, day // 100 % 100, day % 100)
        when = f"{_MONTHS[d.month - 1]} {d.day}, {d.year}"  # not %B: that follows the locale
    return ", ".join(x for x in (str(p.metadata.get("publisher") or "").strip(), when) if x)


def condense_messages(
    question: str, history: Sequence[dict[str, str]], prompts_dir: Path | None = None
) -> list[BaseMessage]:
    """The prompt that rewrites a follow-up into a question that stands on its own."""
    recent = [
        {"role": m["role"], "content": " ".join(m["content"][:_HISTORY_CHARS].split())}
        for m in history[-_HISTORY_TURNS:]
    ]
    return messages_of(render("condense", prompts_dir, question=question, history=recent))
