"""Questions with what answers them, retrieved as ``qa.ask`` would: the extractive model's data.

Two public question sets written by others, each over its own index built with the current
embedding settings (``QA_EMBEDDING_MODEL``):

- CLAP NQ tuning half (bench/clapnq_data.py): 307 questions over its 597 passages. A
  candidate sentence answers when it lies in the gold passage and most of its words are in
  the annotators' answer; the unanswerable questions have no answering sentence.
- MultiHop-RAG dev split (bench/multihop_data.py): 1,330 queries over its 609 articles. A
  candidate answers when it lies in an evidence article and holds (or is held by) a gold
  evidence fact; null queries have none.

Each question is retrieved once (the assistant's own search, ``top_k`` passages) and kept
in the work folder, so the model can be refitted without searching again.
"""

from __future__ import annotations

import hashlib
import pickle
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ingest
from qa import Assistant, Passage, Settings
from qa.extractive_features import Candidate

from . import clapnq_data, multihop_data

_CACHE_VERSION = 1
_MIN_SHARE = 0.5  # of a sentence's words in the reference, for the sentence to answer
_WORD = re.compile(r"\w+")


@dataclass
class Question:
    dataset: str  # "clapnq" or "multihop"
    id: str
    fold: int
    question: str
    answerable: bool
    passages: list[Passage]
    sources: frozenset[str]  # the files that answer it
    reference: str = ""  # CLAP NQ: the annotators' answer
    facts: tuple[str, ...] = ()  # MultiHop-RAG: the evidence facts
    kind: str = ""  # MultiHop-RAG: the question type
    answer: str = ""  # MultiHop-RAG: the short answer
    tags: tuple[str, ...] = field(default_factory=tuple)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _share_in(text: str, reference: Counter[str]) -> float:
    words = _words(text)
    return sum((Counter(words) & reference).values()) / len(words) if words else 0.0


def labeller(q: Question) -> Callable[[Candidate], bool]:
    """Whether a candidate sentence answers ``q`` (see the module docstring)."""
    if not q.answerable:
        return lambda c: False
    if q.dataset == "clapnq":
        reference = Counter(_words(q.reference))
        return lambda c: (
            c.passage.source in q.sources and _share_in(c.sentence, reference) >= (_MIN_SHARE)
        )
    facts = [(multihop_data.squash(f), Counter(_words(f))) for f in q.facts]

    def answers(c: Candidate) -> bool:
        if c.passage.source not in q.sources:
            return False
        text = multihop_data.squash(c.sentence)
        return any(
            f in text or text in f or _share_in(c.sentence, words) >= 0.6 for f, words in facts
        )

    return answers


def model_slug(settings: Settings) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", settings.embedding_model).strip("-")[:40]


def _index(folder: Path, write: Callable[[Path], object], settings: Settings) -> Path:
    """The index of the files ``write`` puts in a folder, built (or brought up to date)."""
    index_dir = folder / f"index-{model_slug(settings)}"
    docs = folder / "docs"
    if not docs.exists():
        write(docs)
    report = ingest.ingest([docs], settings=settings.model_copy(update={"index_dir": index_dir}))
    print(f"  {folder.name}: {report.summary()}", flush=True)
    return index_dir


def seed_index(work: Path, settings: Settings, seeds: Path) -> Path:
    index_dir = work / "seeds" / f"index-{model_slug(settings)}"
    ingest.ingest([seeds], settings=settings.model_copy(update={"index_dir": index_dir}))
    return index_dir


def _clapnq_questions(assistant: Assistant) -> list[Question]:
    out = []
    for q in clapnq_data.questions():
        out.append(
            Question(
                dataset="clapnq",
                id=q["id"],
                fold=clapnq_data.fold(q["id"]),
                question=q["question"],
                answerable=not q["unanswerable"],
                passages=assistant.search(q["question"], assistant.settings.top_k),
                sources=frozenset(clapnq_data.file_name(p) for p in q["passages"]),
                reference=q.get("answer", ""),
            )
        )
    return out


def _multihop_questions(assistant: Assistant, source_of: dict[str, str]) -> list[Question]:
    out = []
    for q in multihop_data.dev_queries(include_null=True):
        text = q["query"]
        evidence = q["evidence_list"]
        out.append(
            Question(
                dataset="multihop",
                id=hashlib.sha256(text.encode("utf-8")).hexdigest()[:12],
                fold=clapnq_data.fold(text),
                question=text,
                answerable=q["question_type"] != "null_query",
                passages=assistant.search(text, assistant.settings.top_k),
                sources=frozenset(source_of[e["url"]] for e in evidence),
                facts=tuple(e["fact"] for e in evidence),
                kind=q["question_type"].removesuffix("_query"),
                answer=q["answer"],
            )
        )
    return out


def questions(work: Path, settings: Settings, datasets: tuple[str, ...]) -> list[Question]:
    """The questions of ``datasets`` with their retrieved passages (cached in ``work``)."""
    out: list[Question] = []
    for name in datasets:
        folder = work / name
        folder.mkdir(parents=True, exist_ok=True)
        cache = folder / f"questions-{model_slug(settings)}-k{settings.top_k}.pickle"
        if cache.exists():
            version, cached = pickle.loads(cache.read_bytes())
            if version == _CACHE_VERSION:
                out += cached
                continue
        if name == "clapnq":
            index_dir = _index(folder, clapnq_data.write_passages, settings)
            make: Callable[[Assistant], list[Question]] = _clapnq_questions
        else:
            source_of = {
                a["url"]: multihop_data.file_name(i, a)
                for i, a in enumerate(multihop_data.corpus())
            }
            index_dir = _index(folder, multihop_data.write_articles, settings)

            def make(a: Assistant, source_of: dict[str, str] = source_of) -> list[Question]:
                return _multihop_questions(a, source_of)

        assistant = Assistant(settings.model_copy(update={"index_dir": index_dir}))
        try:
            found = make(assistant)
        finally:
            assistant.index.close()
        cache.write_bytes(pickle.dumps((_CACHE_VERSION, found)))
        out += found
    return out
