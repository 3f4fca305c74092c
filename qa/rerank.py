"""An optional cross-encoder that reorders the best candidates (``QA_RERANKER``).

Off by default: no cross-encoder weights ship with the tool, and none may be downloaded. Point
``QA_RERANKER`` at a sentence-transformers ``CrossEncoder`` folder (or a name already in the
local Hugging Face cache) to turn it on. It reads the question with each chunk's embedded text
(header + body), so it sees the title, publisher and date too.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import TYPE_CHECKING

from ingest.settings import SettingsError

from .retrieval import Reranker

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder

_lock = threading.Lock()


@lru_cache(maxsize=2)
def _load(name: str, device: str) -> CrossEncoder:
    from sentence_transformers import CrossEncoder

    try:
        return CrossEncoder(name, device=device)
    except (OSError, ValueError) as err:
        raise SettingsError(
            f"cannot load the reranker {name!r} (QA_RERANKER): {err}. Give the folder of a "
            "sentence-transformers cross-encoder, or unset QA_RERANKER."
        ) from None


def make_reranker(name: str | None, device: str = "cpu") -> Reranker | None:
    """A function scoring (question, chunk) pairs with the named cross-encoder, or None."""
    if not name:
        return None
    with _lock:  # load once, now: a wrong name is reported before the first question
        model = _load(name, device)

    def rerank(query: str, chunks: list[tuple[str, str]]) -> list[float]:
        if not chunks:
            return []
        scores = model.predict([(query, text) for _, text in chunks], show_progress_bar=False)
        return [float(s) for s in scores]

    return rerank
