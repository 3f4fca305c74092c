"""The app's HTTP API for programs: ``/ask``, one question -> the answer as JSON.

Served by Gradio beside the page (its queue, its login); call it with ``gradio_client``
(README: "HTTP API"). The chat's own events are not part of the API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from ingest.store import IndexMismatchError, IndexNotFoundError

from ..assistant import Assistant


def make_ask(assistant: Assistant) -> Callable[..., dict[str, Any]]:
    """The ``/ask`` endpoint (Gradio reads its parameters' types and defaults)."""
    default_mode, default_k = assistant.settings.answer_mode, assistant.settings.top_k

    def ask(
        question: str,
        history: list[dict[str, str]] | None = None,
        mode: str = default_mode,
        passages: int = default_k,
    ) -> dict[str, Any]:
        """Answer a question from the indexed documents, citing each sentence.

        history: earlier turns, [{"role": "user" | "assistant", "content": "..."}].
        mode: "auto", "extractive" or "llm". passages: how many passages to draw on.
        Returns text (with [n] markers), citations (n, source, title, page, quote, start,
        end, score), refused, mode, notice, query (what was searched), unsupported and
        reply (what the model wrote, before the check).
        """
        if history is not None and not (
            isinstance(history, list)
            and all(
                isinstance(m, dict)
                and m.get("role") in ("user", "assistant")
                and isinstance(m.get("content"), str)
                for m in history
            )
        ):
            raise gr.Error('history must be a list of {"role": "user"|"assistant", "content": str}')
        try:
            answer = assistant.configured(mode, passages).ask(question, history)
        except (ValueError, IndexNotFoundError, IndexMismatchError) as err:
            raise gr.Error(str(err), print_exception=False) from None
        data = answer.to_dict()
        del data["passages"]  # long; the citations carry what was quoted
        return data

    return ask
