"""The values the public API returns: passages, citations and answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from langchain_core.documents import Document

Mode = Literal["extractive", "llm"]


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk. ``text`` is exactly ``source_text[start:end]``."""

    id: str
    text: str
    source: str
    start: int
    end: int
    page: int | None
    score: float  # relevance to the query, higher is better: what the retriever ranked by
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)
    similarity: float | None = None  # cosine similarity of the query and the embedded chunk

    @property
    def title(self) -> str:
        return str(self.metadata.get("title", self.source))

    @property
    def closeness(self) -> float:
        """The embedding similarity when known, else the score."""
        return self.score if self.similarity is None else self.similarity

    @classmethod
    def from_stored(
        cls,
        id: str,
        text: str,
        metadata: dict[str, Any],
        score: float,
        similarity: float | None = None,
    ) -> Passage:
        """From a stored chunk: its text is header + body; metadata says where the body is."""
        meta = dict(metadata)
        page = meta.get("page")
        return cls(
            id=id,
            text=text[int(meta.get("body_start", 0)) :],
            source=str(meta["source"]),
            start=int(meta["start"]),
            end=int(meta["end"]),
            page=int(page) if page is not None else None,
            score=float(score),
            metadata=meta,
            similarity=similarity,
        )

    @classmethod
    def from_document(cls, doc: Document, score: float) -> Passage:
        return cls.from_stored(str(doc.id), doc.page_content, doc.metadata, score)


@dataclass(frozen=True)
class Citation:
    """What an ``[n]`` marker in the answer points to. ``quote`` is ``source_text[start:end]``."""

    n: int
    source: str
    quote: str
    start: int
    end: int
    page: int | None
    score: float
    title: str = ""


@dataclass(frozen=True)
class Status:
    """What the assistant is doing while no text comes: waiting for the model, loading it."""

    text: str  # e.g. "Waiting for the model: 2 questions ahead"
    ahead: int = 0  # questions before this one in the model's queue


@dataclass(frozen=True)
class Retrieved:
    """The passages an answer draws on, as soon as they are found (before the model writes)."""

    passages: list[Passage]
    query: str  # the question as searched


@dataclass
class Answer:
    text: str  # with [n] markers
    citations: list[Citation]
    refused: bool  # the documents do not answer the question
    mode: Mode
    notice: str = ""  # empty unless something degraded
    model: str = ""  # the model that wrote it (mode "llm")
    query: str = ""  # the question as searched (rewritten for follow-ups)
    passages: list[Passage] = field(default_factory=list)  # what the answer was drawn from
    unsupported: list[str] = field(default_factory=list)  # sentences no cited passage supports
    # What the model wrote, before the check: kept when a quoted answer replaced it, so that
    # a reader (or a recalibration of the check) can see what was rejected.
    reply: str = ""
    verdict: str = ""  # "Yes" or "No": a yes-or-no question's answer, first in ``text`` too

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
