"""All settings: the index's (``ingest.IndexSettings``) plus answering and serving."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from ingest.settings import IndexSettings


class Settings(IndexSettings):
    answer_mode: Literal["auto", "extractive", "llm"] = Field(
        "auto", description="auto: the LLM when one is configured, else extractive."
    )
    top_k: int = Field(6, ge=1, le=50, description="Passages an answer draws on.")
    max_answer_sentences: int = Field(
        3, ge=1, le=10, description="Sentences in an extractive answer."
    )
    # Calibrated by bench/calibrate_refusal.py on questions written for it, not the evaluation
    # cases (output in docs/calibration.md): below this support the documents do not answer.
    refusal_threshold: float = Field(
        0.525, description="Least support score of an answer sentence."
    )
    max_question_chars: int = Field(2000, ge=10, description="Longer questions are rejected.")
    prompts_dir: Path | None = Field(None, description="Folder of your own prompt files.")
    host: str = Field("127.0.0.1", description="Address the web app binds.")
    port: int = Field(7860, description="Port of the web app.")
