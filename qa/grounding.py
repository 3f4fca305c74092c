"""Whether an answer written by the model is grounded in the passages: what to show of it.

Every sentence is cited to the passage sentence that supports it, or to none (``citecheck``).
Then, for the answer as a whole:
- the model said the passages do not answer (``NOT_IN_DOCUMENTS``): a refusal;
- no sentence is supported: the answer is not shown as the model wrote it; the caller quotes
  the documents instead (which refuses when they do not answer), saying why in the notice;
- the sentence that answers the question (the one restating most of it) is unsupported: the
  same, however well the others are supported (they were copied beside a made-up answer);
- the question asks for a figure ("how many …?") and no supported sentence states one: the
  same, with a notice saying so;
- some sentences are supported: shown, the unsupported ones marked (``unsupported``).
Not handled: a supported sentence that does not answer the question (see docs/citecheck.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import citecheck
from .settings import Settings
from .types import Citation, Passage

UNSUPPORTED_NOTICE = (
    "The model's answer is not supported by the documents ({}); this answer is quoted from them."
)
NO_FIGURE_NOTICE = (
    "The model's answer does not state the figure asked for ({}); this answer is quoted from "
    "the documents."
)
# When the quoted answer that would replace it is not likely enough to answer either.
REFUSED_NOTICE = "The model's answer is not supported by the documents ({}), nor is any quote."
_SHOWN_CHARS = 200  # of the model's unsupported answer, in the notice


@dataclass(frozen=True)
class Grounded:
    text: str
    citations: list[Citation]
    unsupported: list[str]
    refused: bool
    quote_instead: str = ""  # non-empty: show the quoted answer, with this notice
    refused_notice: str = ""  # the notice if the quoted answer is refused instead


def check(
    reply: str,
    passages: Sequence[Passage],
    vectors: citecheck.SentenceVectors,
    settings: Settings,
    question: str = "",
) -> Grounded:
    checked = citecheck.check(reply, passages, vectors, settings.support_threshold, question)
    grounded = Grounded(checked.text, checked.citations, checked.unsupported, checked.refused)
    if not checked.unanswered and (checked.refused or checked.citations or not checked.unsupported):
        return grounded
    said = checked.unanswered or " ".join(checked.unsupported)
    # An unanswered reply whose sentences are supported lacks the figure a "how many" asks for.
    supported = checked.unanswered and checked.unanswered not in checked.unsupported
    notice = NO_FIGURE_NOTICE if supported else UNSUPPORTED_NOTICE
    if len(said) > _SHOWN_CHARS:
        said = said[: _SHOWN_CHARS - 1].rstrip() + "…"
    return Grounded(
        checked.text,
        [],
        checked.unsupported,
        refused=False,
        quote_instead=notice.format(f"“{said}”"),
        refused_notice=REFUSED_NOTICE.format(f"“{said}”"),
    )
