"""CLAP NQ tuning half (Rosenthal et al., TACL 2025): passages as files, questions, folds, scores.

The data lives outside the repository, in ``../shared/bench/clapnq`` by default
(``QA_CLAPNQ_DATA`` overrides): 597 gold passages (the corpus) and 307 questions, 167
answerable with the annotators' long-form answer, 140 unanswerable (their passage is on the
topic but does not hold the answer). The other half of the dev set is not given out.

Scores are the README's: SQuAD-style token F1 of the answer text against the annotators'
answer (a refusal scores 0 on an answerable question), the share of answerable questions
refused, the share of unanswerable ones refused, and whether a citation points into the gold
passage.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import string
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "bench" / "clapnq"
FOLDS = 5

_MARKER = re.compile(r"\[\d+\]")
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def data_dir() -> Path:
    path = Path(os.environ.get("QA_CLAPNQ_DATA", DEFAULT_DATA))
    if not (path / "passages.jsonl").exists():
        raise SystemExit(f"CLAP NQ data not found in {path}; set QA_CLAPNQ_DATA to its folder")
    return path


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@cache
def passages() -> list[dict[str, Any]]:
    return _jsonl(data_dir() / "passages.jsonl")


@cache
def questions() -> list[dict[str, Any]]:
    return _jsonl(data_dir() / "questions-tune.jsonl")


def fold(key: str, folds: int = FOLDS) -> int:
    """The fold of a question: its id's sha256, so the split never depends on file order."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:4], "big") % folds


def file_name(passage_id: str) -> str:
    return f"{passage_id}.md"


def write_passages(folder: Path) -> None:
    """Each passage as Markdown with its title as front matter (the chunk header carries it)."""
    folder.mkdir(parents=True, exist_ok=True)
    for p in passages():
        front = yaml.safe_dump({"title": p["title"]}, allow_unicode=True, sort_keys=False)
        (folder / file_name(p["id"])).write_text(f"---\n{front}---\n{p['text']}\n", "utf-8")


def normalize(text: str) -> list[str]:
    """SQuAD's answer normalization, after the ``[n]`` markers are removed."""
    text = _MARKER.sub(" ", text).lower().translate(_PUNCTUATION)
    return _ARTICLES.sub(" ", text).split()


def token_f1(answer: str, gold: str) -> float:
    a, g = normalize(answer), normalize(gold)
    common = sum((Counter(a) & Counter(g)).values())
    if not common:
        return 0.0
    precision, recall = common / len(a), common / len(g)
    return 2 * precision * recall / (precision + recall)
