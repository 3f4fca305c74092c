"""All settings: the index's (``ingest.IndexSettings``) plus answering and serving."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field

from ingest.settings import IndexSettings

AnswerMode = Literal["auto", "extractive", "llm"]
ANSWER_MODES: tuple[str, ...] = get_args(AnswerMode)
TOP_K_MAX = 50


class Settings(IndexSettings):
    answer_mode: AnswerMode = Field(
        "auto",
        description="auto: the configured endpoint's model (QA_LLM_MODEL), else the local "
        "model, else extractive; extractive: quotes only; llm: a model, falling back to quotes.",
    )
    # The endpoint and key are OPENAI_BASE_URL and OPENAI_API_KEY (ingest.IndexSettings).
    llm_model: str | None = Field(
        None, description="Model name at an OpenAI-compatible endpoint; it replaces the local one."
    )
    llm_timeout: float = Field(
        30.0,
        gt=0,
        le=600,
        description="Seconds for the whole LLM answer (waiting for the model, retries included).",
    )
    llm_refusal_gate: bool = Field(
        True,
        description="Refuse without asking the model when no passage sentence is even "
        "QA_LLM_GATE_THRESHOLD likely to answer (off-topic questions: ~10 ms instead of ~15 s).",
    )
    llm_gate_threshold: float = Field(
        0.08,
        ge=0,
        le=1,
        description="The refusal gate's bar: the model is asked unless the best evidence "
        "sentence is less likely than this to answer (docs/calibration.md).",
    )
    llm_cited_threshold: float = Field(
        0.04,
        ge=0,
        le=1,
        description="The model's answer is shown only when a row it cites is at least this "
        "likely to answer (the extractive model's probability); else the quoted answer, or a "
        "refusal (fitted on CLAP NQ fold 1 and the paraphrased fit set, docs/calibration.md).",
    )
    llm_evidence_chars: int = Field(
        1600,
        ge=200,
        description="Characters of evidence sentences the model reads (each passage's most "
        "likely to answer, then the most likely of the rest).",
    )
    llm_grammar: bool = Field(
        False,
        description="Send the reply's grammar (GBNF, as `grammar`) to the configured endpoint: "
        "a llama.cpp server takes it; OpenAI and Ollama do not. The local model always gets it.",
    )
    llm_max_tokens: int = Field(
        200, ge=16, le=8192, description="Most tokens the model may write for one answer."
    )
    local_model: str = Field(
        "bundled",
        description="The local model: 'bundled' (Qwen2.5-Coder-1.5B-Instruct Q4_K_M, installed "
        "with the package), the path of another GGUF file, or 'off'.",
    )
    local_model_sha256: str | None = Field(
        None, description="sha256 your own GGUF file must have (checked before loading)."
    )
    local_threads: int = Field(0, ge=0, le=256, description="CPU threads; 0: one per core.")
    local_context_tokens: int = Field(
        4096, ge=512, le=131072, description="The local model's context window, in tokens."
    )
    cache_dir: Path = Field(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cited-qa",
        description="Where the bundled model file is assembled (1.1 GB, once).",
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
    # subtle: a question waiting here is outside QA_LLM_TIMEOUT's bound (Gradio's queue
    # holds it before our code sees it), and a question waiting for the local model costs
    # nothing. So many at once: the model's own queue orders them and bounds their wait.
    # (bench.load, 20 sessions with the local model: p50 150 s per answer at 4.)
    concurrency: int = Field(
        32, ge=1, le=64, description="Questions the web app (and its API) answers at once."
    )
