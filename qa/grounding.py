"""Whether an answer written by the model is grounded in the passages it cites.

Every sentence is checked against the passages it cites (``citecheck``); what the passages do
not support is marked, and an answer with no supported claim is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import citecheck
from .settings import Settings
from .types import Citation, Passage


@dataclass(frozen=True)
class Grounded:
    text: str
    citations: list[Citation]
    unsupported: list[str]
    refused: bool
    notice: str = ""


def check(
    reply: str,
    passages: Sequence[Passage],
    vectors: citecheck.SentenceVectors,
    settings: Settings,
) -> Grounded:
    checked = citecheck.check(reply, passages, vectors, settings.support_threshold)
    return Grounded(checked.text, checked.citations, checked.unsupported, checked.refused)
