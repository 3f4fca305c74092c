"""Answer questions from your documents, citing the exact passages.

    import qa
    a = qa.ask("What share of global rare earth processing does China control?")
    a.text, a.citations, a.refused, a.mode, a.notice, a.unsupported
    for part in qa.stream("And Lynas?", history=[...]):  # text as it arrives, then the Answer
        ...
    qa.retrieve("rare earth processing", k=10)

The module-level functions share one ``Assistant`` built from settings (environment variables)
on first use; build ``Assistant(Settings(...))`` yourself to serve several indexes.
"""

from ingest.settings import offline_defaults

offline_defaults()

import threading  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402

from .assistant import Assistant, Message  # noqa: E402
from .settings import Settings  # noqa: E402
from .types import Answer, Citation, Passage  # noqa: E402

__all__ = [
    "Answer",
    "Assistant",
    "Citation",
    "Passage",
    "Settings",
    "ask",
    "default_assistant",
    "retrieve",
    "stream",
]

_default: Assistant | None = None
_default_lock = threading.Lock()


def default_assistant() -> Assistant:
    """The shared assistant of the module-level functions, built on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Assistant()
        return _default


def ask(question: str, history: Sequence[Message] | None = None) -> Answer:
    """Answer ``question`` from the indexed documents; ``history`` holds earlier turns."""
    return default_assistant().ask(question, history=history)


def stream(question: str, history: Sequence[Message] | None = None) -> Iterator[str | Answer]:
    """The answer's text as it arrives, ending with the ``Answer`` (which is the final word)."""
    return default_assistant().stream(question, history=history)


def retrieve(question: str, k: int = 10) -> list[Passage]:
    """The ``k`` passages most relevant to ``question``, best first."""
    return default_assistant().retrieve(question, k=k)
