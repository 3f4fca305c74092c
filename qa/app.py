"""The browser chat: a thin Gradio adapter over ``Assistant``; no answering logic lives here."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Sequence
from typing import Any

import gradio as gr

from ingest.store import IndexMismatchError, IndexNotFoundError

from .assistant import Assistant, Message
from .types import Answer

EXAMPLES = [
    "What share of global rare earth processing does China control?",
    "Which countries signed rare earth agreements with the U.S.?",
    "How large is Australia's cooperation deal on mineral processing?",
    "Which company is the largest rare earth supplier outside China?",
]
_CURSOR = " ▍"  # after text still arriving
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def inert(text: str) -> str:
    """Document or model text made safe to show as Markdown: no HTML, links or formatting."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def render(answer: Answer) -> str:
    """Markdown of the answer with its numbered sources under it."""
    parts = [inert(answer.text)]
    if answer.notice:
        parts.append(f"> ⚠️ {inert(answer.notice)}")
    if answer.unsupported:
        parts.append(
            "> ⚠️ **Not supported by the cited passages:**\n"
            + "\n".join(f"> - {inert(s)}" for s in answer.unsupported)
        )
    if answer.citations:
        lines = ["**Sources**"]
        for c in answer.citations:
            where = f", p. {c.page}" if c.page is not None else ""
            lines.append(
                f"{c.n}\\. *{inert(c.title or c.source)}* ({inert(c.source)}{where}, "
                f"chars {c.start}–{c.end}): “{inert(c.quote)}”"
            )
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _text(content: Any) -> str:
    """Gradio message content (a string, or a list of parts) as plain text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _answer_only(shown: str) -> str:
    """An earlier reply as the answer's plain text, without the sources and notes under it."""
    body = re.split(r"\n\n(?:\*\*Sources\*\*|> ⚠️)", shown, maxsplit=1)[0]
    return html.unescape(re.sub(r"\\(.)", r"\1", body)).removesuffix(_CURSOR).strip()


def to_history(messages: Sequence[dict[str, Any]]) -> list[Message]:
    return [
        {
            "role": m["role"],
            "content": _text(m.get("content"))
            if m["role"] == "user"
            else _answer_only(_text(m.get("content"))),
        }
        for m in messages
        if m.get("role") in ("user", "assistant")
    ]


def build(assistant: Assistant) -> gr.ChatInterface:
    def respond(message: str, history: list[dict[str, Any]]) -> Iterator[str]:
        """The answer as it streams, then rendered with its sources (the final word)."""
        shown = ""
        try:
            for part in assistant.stream(message, history=to_history(history)):
                if isinstance(part, Answer):
                    yield render(part)
                else:
                    shown += part
                    yield inert(shown) + _CURSOR
        except (ValueError, IndexNotFoundError, IndexMismatchError) as err:
            yield f"⚠️ {inert(str(err))}"

    return gr.ChatInterface(
        respond,
        title="Ask your documents",
        description="Every answer quotes the passages it comes from; [n] marks each source.",
        examples=EXAMPLES,
        api_name="ask",
        analytics_enabled=False,
    )


def serve(assistant: Assistant) -> int:
    app = build(assistant)
    app.launch(
        server_name=assistant.settings.host, server_port=assistant.settings.port, show_error=False
    )
    return 0
