"""The search index beside Chroma: BM25 over words and word pairs (bm25s), and the vectors.

Chroma's local mode has no sparse index, so this one lives in the index folder
(``search-<collection>/``). It is derived data, built from the collection's own contents (the
embedded text: header + body, and its vector) and stamped with the collection's change stamp;
whenever the stamp has moved on, it is rebuilt (``Index.search_index``). Word pairs matter:
"class action", "Caroline Ellison" or "$14 billion" say more together than apart.

Per chunk it keeps, as arrays in one order: the few metadata fields that filters and query
handling need (file source, publisher, publication day) and the stored vector, normalized.
A filter or a named publisher is then a mask over scores, and the dense score of every chunk
is one matrix product. Why not Chroma's own nearest-neighbour query: a filtered query took
40-160 ms at 100k chunks (metadata filter in SQLite, then the search) where the product takes
a few ms, and a search needs one dense query per publisher the question names.
Not handled: incremental updates (a rebuild reads and tokenizes every chunk: about a minute
at 100k chunks); collections whose vectors do not fit in memory (4 bytes a dimension a chunk:
150 MB for 100k MiniLM vectors).
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
_VECTORS_FILE = "vectors.npy"


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


@dataclass(frozen=True)
class _Codes:
    """A column of strings as numbers. Every search masks by publisher: comparing 100k
    strings took 10 ms a question, comparing their numbers 0.05 ms."""

    number: dict[str, int]  # name -> its code, in order of first appearance
    codes: np.ndarray  # position -> code

    @classmethod
    def of(cls, column: np.ndarray) -> _Codes:
        number: dict[str, int] = {}
        codes = np.fromiter(
            (number.setdefault(str(v), len(number)) for v in column), np.int32, len(column)
        )
        return cls(number, codes)

    def mask(self, wanted: Iterable[str]) -> np.ndarray:
        return np.isin(self.codes, [self.number[w] for w in wanted if w in self.number])


@dataclass
class SearchIndex:
    stamp: str  # the collection's change stamp this index was built at
    ids: list[str]  # position -> chunk id
    words: bm25s.BM25 | None  # None: no word in any chunk
    pairs: bm25s.BM25 | None
    sources: np.ndarray  # position -> file source (str)
    publishers: np.ndarray  # position -> publisher or "" (str)
    days: np.ndarray  # position -> publication day as YYYYMMDD, 0 when unknown
    vectors: np.ndarray  # (position, dimension) -> float32, rows of unit length

    @classmethod
    def build(
        cls,
        stamp: str,
        ids: list[str],
        texts: list[str],
        metadatas: list[dict[str, Any]],
        vectors: Sequence[Sequence[float]] | np.ndarray,
    ) -> SearchIndex:
        tokens = words(texts) if texts else []
        return cls(
            stamp=stamp,
            ids=ids,
            words=_model(tokens),
            pairs=_model([pairs(t) for t in tokens]),
            sources=np.array([str(m.get("source", "")) for m in metadatas], dtype=object),
            publishers=np.array([str(m.get("publisher") or "") for m in metadatas], dtype=object),
            days=np.array([_publication_day(m) for m in metadatas], dtype=np.int64),
            vectors=unit_rows(vectors),
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

    def similarities(self, vector: np.ndarray) -> np.ndarray:
        """Cosine similarity of every chunk to the (query) vector."""
        norm = float(np.linalg.norm(vector))
        return self.vectors @ (vector / norm if norm > 0 else vector)

    def publisher_names(self) -> list[str]:
        return list(self._publisher_names)

    @cached_property
    def _publisher_names(self) -> tuple[str, ...]:
        # Asked by every search: sorted once, not per question.
        return tuple(sorted(name for name in self._publisher_codes.number if name))

    def publisher_mask(self, name: str) -> np.ndarray:
        """Which chunks this publisher published."""
        return self._publisher_codes.mask([name])

    def source_mask(self, sources: Iterable[str]) -> np.ndarray:
        """Which chunks come from these files."""
        return self._source_codes.mask(sources)

    @cached_property
    def _publisher_codes(self) -> _Codes:
        return _Codes.of(self.publishers)

    @cached_property
    def _source_codes(self) -> _Codes:
        return _Codes.of(self.sources)

    # -- persistence: a folder written whole, then swapped in

    def save(self, folder: Path) -> None:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".search-", dir=folder.parent))
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
            np.save(tmp / _VECTORS_FILE, self.vectors, allow_pickle=False)
            (tmp / _FIELDS_FILE).write_text(json.dumps(fields), encoding="utf-8")
            old = folder.with_name(folder.name + ".old")
            if folder.exists():
                os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> SearchIndex | None:
        """The saved index, or None when there is none (or only part of one)."""
        try:
            fields = json.loads((folder / _FIELDS_FILE).read_text(encoding="utf-8"))
            index = cls(
                stamp=fields["stamp"],
                ids=fields["ids"],
                words=_load_model(folder / "words"),
                pairs=_load_model(folder / "pairs"),
                sources=np.array(fields["sources"], dtype=object),
                publishers=np.array(fields["publishers"], dtype=object),
                days=np.array(fields["days"], dtype=np.int64),
                vectors=np.load(folder / _VECTORS_FILE, allow_pickle=False),
            )
        except (OSError, EOFError, ValueError, KeyError):  # EOFError: a truncated .npy
            return None
        rows = len(index.ids)
        columns = (index.sources, index.publishers, index.days, index.vectors)
        if index.vectors.ndim != 2 or any(len(c) != rows for c in columns):
            return None  # parts of different builds: rebuild
        return index


def _load_model(folder: Path) -> bm25s.BM25 | None:
    return bm25s.BM25.load(str(folder), show_progress=False) if folder.is_dir() else None


def unit_rows(vectors: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """The vectors as float32 rows of unit length (a zero row stays zero)."""
    rows = np.array(vectors, dtype=np.float32)  # a copy of our own, normalized in place
    if rows.ndim != 2:
        return np.zeros((len(rows), 0), dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    rows /= np.where(norms > 0, norms, 1.0)
    return rows


Page = tuple[list[str], list[str], list[dict[str, Any]], Sequence[Sequence[float]]]


def build_from(stamp: str, pages: Iterable[Page]) -> SearchIndex:
    """An index of every chunk given page by page as (ids, texts, metadatas, vectors)."""
    ids: list[str] = []
    texts: list[str] = []
    metas: list[dict[str, Any]] = []
    vectors: list[np.ndarray] = []
    for page_ids, page_texts, page_metas, page_vectors in pages:
        if len(page_vectors) != len(page_ids):
            raise ValueError(
                f"Chroma returned {len(page_vectors)} vectors for {len(page_ids)} chunks"
            )
        ids += page_ids
        texts += page_texts
        metas += page_metas
        vectors.append(np.asarray(page_vectors, dtype=np.float32))
    return SearchIndex.build(stamp, ids, texts, metas, np.concatenate(vectors) if ids else [])
