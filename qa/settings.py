"""All settings: the index's (``ingest.IndexSettings``) plus answering and serving."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import Field

from ingest.settings import IndexSettings

AnswerMode = Literal["auto", "extractive", "llm"]
ANSWER_MODES: tuple[str, ...] = get_args(AnswerMode)
TOP_K_MAX = 50


class Settings(IndexSettings):
    answer_mode: AnswerMode = Field(
        "auto", description="auto: the LLM when one is configured (QA_LLM_MODEL), else extractive."
    )
    # The endpoint and key are OPENAI_BASE_URL and OPENAI_API_KEY (ingest.IndexSettings).
    llm_model: str | None = Field(None, description="Chat model name; setting it enables the LLM.")
    llm_timeout: float = Field(
        30.0, gt=0, le=600, description="Seconds for the whole LLM answer, retries included."
    )
    llm_temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature.")
    llm_max_retries: int = Field(
        2, ge=0, le=10, description="Retries of a failed LLM request, within the deadline."
    )
    # The evaluation's LLM judge (qa/eval/llm_judge.py), on the same endpoint.
    judge_model: str | None = Field(None, description="Judge model name (default: llm_model).")
    judge_timeout: float = Field(
        60.0, gt=0, le=600, description="Seconds for one judge verdict, retries included."
    )
    # Calibrated by bench/calibrate_citecheck.py on the cases in bench/calibration/ (output in
    # docs/citecheck.md): a cited sentence scoring below this is listed as unsupported.
    support_threshold: float = Field(
        0.65, ge=0, le=1, description="Least support score of a cited answer sentence."
    )
    reranker: str | None = Field(
        None, description="Cross-encoder folder or cached name; reorders the best candidates."
    )
    top_k: int = Field(6, ge=1, le=TOP_K_MAX, description="Passages an answer draws on.")
    max_answer_sentences: int = Field(
        3, ge=1, le=10, description="Sentences in an extractive answer."
    )
    # The extractive model: fitted by bench/fit_extractive.py on public questions (figures in
    # docs/calibration.md). Its file holds the refusal threshold; this overrides it.
    extractive_model: Path | None = Field(
        None, description="Fitted extractive model (JSON); default: the one in the package."
    )
    refusal_threshold: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Least probability that the best sentence answers (default: the fitted one).",
    )
    max_question_chars: int = Field(2000, ge=10, description="Longer questions are rejected.")
    prompts_dir: Path | None = Field(None, description="Folder of your own prompt files.")
    host: str = Field(
        "127.0.0.1", description="Address the web app binds; any other than loopback needs auth."
    )
    port: int = Field(7860, ge=0, le=65535, description="Port of the web app.")
    auth: str | None = Field(
        None,
        repr=False,
        description="user:password, or a file of such lines: the web app asks them at login.",
    )
    max_upload_mb: float = Field(
        25, gt=0, description="Largest file the web app accepts as an upload (megabytes)."
    )
    concurrency: int = Field(
        4, ge=1, le=64, description="Questions the web app (and its API) answers at once."
    )
