"""The keyword index beside Chroma: BM25 over words and over word pairs (bm25s).

Chroma's local mode has no sparse index, so the keyword index lives in the index folder
(``keyword/``). It is derived data, built from the collection's own contents (the embedded
text: header + body) and stamped with the collection's change stamp; whenever the stamp has
moved on, the index is rebuilt (``Index.keyword``). Word pairs matter: "class action", "Caroline
Ellison" or "$14 billion" say more together than apart.

Besides the two BM25 models it keeps, per chunk, the few metadata fields that filters and
query handling need (file source, publisher, publication day) as arrays, so that a filter
becomes a mask over scores instead of a second query.
Not handled: incremental updates; a rebuild reads and tokenizes every chunk (seconds for
ten thousand chunks).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import bm25s
import numpy as np

_FIELDS_FILE = "fields.json"


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def words(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stemmed words without English stop words, in text order."""
    return bm25s.tokenize(
        list(texts), stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False
    )


def pairs(tokens: Sequence[str]) -> list[str]:
    """Adjacent word pairs (stop words already gone, so "rare earth" and "earth process")."""
    return [f"{a}_{b}" for a, b in itertools.pairwise(tokens)]


def _model(corpus: list[list[str]]) -> bm25s.BM25 | None:
    """BM25 over the corpus; None when it has no word at all (bm25s cannot index that)."""
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(t, len(vocab)) for t in doc] for doc in corpus]
    if not vocab:
        return None
    model = bm25s.BM25()
    model.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)
    return model


def _publication_day(meta: dict[str, Any]) -> int:
    day = meta.get("published_day")
    return int(day) if isinstance(day, int | float) else 0


@dataclass
class KeywordIndex:
    stamp: str  # the collection's change stamp this index was built at
    ids: list[str]  # position -> chunk id
    words: bm25s.BM25 | None  # None: no word in any chunk
    pairs: bm25s.BM25 | None
    sources: np.ndarray  # position -> file source (str)
    publishers: np.ndarray  # position -> publisher or "" (str)
    days: np.ndarray  # position -> publication day as YYYYMMDD, 0 when unknown

    @classmethod
    def build(
        cls, stamp: str, ids: list[str], texts: list[str], metadatas: list[dict[str, Any]]
    ) -> KeywordIndex:
        tokens = words(texts) if texts else []
        return cls(
            stamp=stamp,
            ids=ids,
            words=_model(tokens),
            pairs=_model([pairs(t) for t in tokens]),
            sources=np.array([str(m.get("source", "")) for m in metadatas], dtype=object),
            publishers=np.array([str(m.get("publisher") or "") for m in metadatas], dtype=object),
            days=np.array([_publication_day(m) for m in metadatas], dtype=np.int64),
        )

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def position(self) -> dict[str, int]:
        """Chunk id -> its position in the arrays."""
        return {i: n for n, i in enumerate(self.ids)}

    def scores(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """BM25 of every chunk for the query's words and for its word pairs, each scaled to
        at most 1 (so they blend with cosine similarities)."""
        tokens = words([query])[0]
        return self._scaled(self.words, tokens), self._scaled(self.pairs, pairs(tokens))

    def _scaled(self, model: bm25s.BM25 | None, tokens: list[str]) -> np.ndarray:
        known = [t for t in tokens if model is not None and t in model.vocab_dict]
        if model is None or not known:
            return np.zeros(len(self.ids), dtype=np.float32)
        raw = np.asarray(model.get_scores(known), dtype=np.float32)
        top = float(raw.max())
        return raw / top if top > 0 else raw

    def publisher_names(self) -> list[str]:
        return list(self._publisher_names)

    @cached_property
    def _publisher_names(self) -> tuple[str, ...]:
        # Asked by every search: a set over 100k chunks took 10 ms a question.
        return tuple(sorted({p for p in self.publishers if p}))

    # -- persistence: a folder written whole, then swapped in

    def save(self, folder: Path) -> None:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".keyword-", dir=folder.parent))
        try:
            for name, model in (("words", self.words), ("pairs", self.pairs)):
                if model is not None:
                    model.save(str(tmp / name), show_progress=False)
            fields = {
                "stamp": self.stamp,
                "ids": self.ids,
                "sources": list(self.sources),
                "publishers": list(self.publishers),
                "days": [int(d) for d in self.days],
            }
            (tmp / _FIELDS_FILE).write_text(json.dumps(fields), encoding="utf-8")
            old = folder.with_name(folder.name + ".old")
            if folder.exists():
                os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex | None:
        """The saved index, or None when there is none (or only part of one)."""
        try:
            fields = json.loads((folder / _FIELDS_FILE).read_text(encoding="utf-8"))
            return cls(
                stamp=fields["stamp"],
                ids=fields["ids"],
                words=_load_model(folder / "words"),
                pairs=_load_model(folder / "pairs"),
                sources=np.array(fields["sources"], dtype=object),
                publishers=np.array(fields["publishers"], dtype=object),
                days=np.array(fields["days"], dtype=np.int64),
            )
        except (OSError, ValueError, KeyError):
            return None


def _load_model(folder: Path) -> bm25s.BM25 | None:
    return bm25s.BM25.load(str(folder), show_progress=False) if folder.is_dir() else None


def build_from(
    stamp: str, pages: Iterable[tuple[list[str], list[str], list[dict[str, Any]]]]
) -> KeywordIndex:
    """An index of every chunk given page by page as (ids, texts, metadatas)."""
    ids: list[str] = []
    texts: list[str] = []
    metas: list[dict[str, Any]] = []
    for page_ids, page_texts, page_metas in pages:
        ids += page_ids
        texts += page_texts
        metas += page_metas
    return KeywordIndex.build(stamp, ids, texts, metas)
