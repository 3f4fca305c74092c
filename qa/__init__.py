"""Answer questions from your documents, citing the exact passages.

    import qa
    a = qa.ask("What share of global rare earth processing does China control?")
    a.text, a.citations, a.refused, a.mode, a.notice, a.unsupported
    for part in qa.stream("And Lynas?", history=[...]):  # text as it arrives, then the Answer
        ...
    qa.retrieve("rare earth processing", k=10)
    qa.ask("...", sources=["report.pdf"], date_from="2023-10-01", date_to="2023-12-31")

The module-level functions share one ``Assistant`` built from settings (environment variables)
on first use; build ``Assistant(Settings(...))`` yourself to serve several indexes.
"""

from ingest.settings import offline_defaults

offline_defaults()

import datetime as dt  # noqa: E402
import threading  # noqa: E402
from collections.abc import Iterable, Iterator, Sequence  # noqa: E402

from .assistant import Assistant, Message  # noqa: E402
from .retrieval import Filters  # noqa: E402
from .settings import Settings  # noqa: E402
from .types import Answer, Citation, Passage  # noqa: E402

__all__ = [
    "Answer",
    "Assistant",
    "Citation",
    "Filters",
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


Day = dt.date | str  # a date, or ISO text "2023-10-01"


def filters(
    sources: Iterable[str] | None = None, date_from: Day | None = None, date_to: Day | None = None
) -> Filters:
    """Restrict answers to some documents (their source names, as ingested) and/or to those
    published within a range of days (inclusive; from front matter or the file's own fields)."""

    def day(value: Day | None, name: str) -> dt.date | None:
        if value is None or isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{name} must be a date like 2023-10-01, not {value!r}") from None

    if isinstance(sources, str | bytes):  # one name would be read as its letters
        raise ValueError(f"sources must be a list of source names, such as [{sources!r}]")
    return Filters(tuple(sources or ()), day(date_from, "date_from"), day(date_to, "date_to"))


def ask(
    question: str,
    history: Sequence[Message] | None = None,
    *,
    sources: Iterable[str] | None = None,
    date_from: Day | None = None,
    date_to: Day | None = None,
) -> Answer:
    """Answer ``question`` from the indexed documents; ``history`` holds earlier turns."""
    return default_assistant().ask(question, history, filters(sources, date_from, date_to))


def stream(
    question: str,
    history: Sequence[Message] | None = None,
    *,
    sources: Iterable[str] | None = None,
    date_from: Day | None = None,
    date_to: Day | None = None,
) -> Iterator[str | Answer]:
    """The answer's text as it arrives, ending with the ``Answer`` (which is the final word)."""
    return default_assistant().stream(question, history, filters(sources, date_from, date_to))


def retrieve(
    question: str,
    k: int = 10,
    *,
    sources: Iterable[str] | None = None,
    date_from: Day | None = None,
    date_to: Day | None = None,
) -> list[Passage]:
    """The ``k`` passages most relevant to ``question``, best first."""
    return default_assistant().retrieve(question, k, filters(sources, date_from, date_to))
