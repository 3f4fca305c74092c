"""What the keyword index counts: stemmed words without stop words, and adjacent word pairs.

Word pairs matter: "class action", "Caroline Ellison" or "$14 billion" say more together than
apart. Stop words go first, so "rare earth processing" gives "rare_earth" and
"earth_process". The tokenizer is bm25s's (English stop words, Snowball stemmer), whose
scores the retrieval weights were tuned with.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import bm25s
import numpy as np

from .postings import pair_keys, term_keys


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


def word_keys(texts: Sequence[str]) -> list[np.ndarray]:
    """Each text's words as term keys (``ingest/postings.py``), in text order; the texts'
    vocabulary is hashed once, not every occurrence."""
    if not texts:
        return []
    tokenized = bm25s.tokenize(
        list(texts), stopwords="en", stemmer=_stemmer(), return_ids=True, show_progress=False
    )
    vocab = tokenized.vocab  # term -> its number in ids
    keys = np.zeros(max(vocab.values(), default=-1) + 1, np.uint64)
    keys[np.fromiter(vocab.values(), np.int64, len(vocab))] = term_keys(vocab)
    return [keys[np.asarray(ids, dtype=np.int64)] for ids in tokenized.ids]


def query_keys(text: str) -> dict[str, np.ndarray]:
    """A query's terms of each kind ("words", "pairs") as keys, repeats kept."""
    keys = term_keys(words([text])[0])
    return {"words": keys, "pairs": pair_keys(keys)}
