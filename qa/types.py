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
    score: float  # relevance to the query, higher is better (cosine similarity for dense search)
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def title(self) -> str:
        return str(self.metadata.get("title", self.source))

    @classmethod
    def from_document(cls, doc: Document, score: float) -> Passage:
        """From a stored chunk: page_content is header + body; metadata says where the body is."""
        meta = dict(doc.metadata)
        body = doc.page_content[int(meta.get("body_start", 0)) :]
        page = meta.get("page")
        return cls(
            id=str(doc.id),
            text=body,
            source=str(meta["source"]),
            start=int(meta["start"]),
            end=int(meta["end"]),
            page=int(page) if page is not None else None,
            score=float(score),
            metadata=meta,
        )


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


@dataclass
class Answer:
    text: str  # with [n] markers
    citations: list[Citation]
    refused: bool  # the documents do not answer the question
    mode: Mode
    notice: str = ""  # empty unless something degraded
    query: str = ""  # the question as searched (rewritten for follow-ups)
    passages: list[Passage] = field(default_factory=list)  # what the answer was drawn from
    unsupported: list[str] = field(default_factory=list)  # sentences no cited passage supports

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
