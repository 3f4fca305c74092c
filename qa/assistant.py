"""The assistant: one index, one embedding model, one language model, and what they share
between questions (the search's caches, the sentence vectors, the fitted scorers). The
question -> cited answer path itself is qa/pipeline.py."""

from __future__ import annotations

import threading
from collections.abc import Generator, Sequence

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from ingest.embeddings import make_embeddings
from ingest.store import Index

from . import extractive, pipeline, questions, support
from .conversation import Message, standalone_question, turns
from .evidence import SentenceVectors
from .llm import LLM, make_llm
from .rerank import make_reranker
from .retrieval import Filters, HybridSearch, PassageRetriever
from .settings import ANSWER_MODES, TOP_K_MAX, Settings
from .types import Answer, Passage, Retrieved, Status

__all__ = ["Assistant", "Message"]

_NO_LLM_NOTICE = (
    "QA_ANSWER_MODE=llm, but no model is available (the local model is off: QA_LOCAL_MODEL; "
    "no endpoint is configured: QA_LLM_MODEL); this answer is quoted from the documents."
)


class Assistant:
    """Answers questions from one index; parts not passed in are built from settings when used."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embeddings: Embeddings | None = None,
        index: Index | None = None,
        chat_model: BaseChatModel | None = None,
        llm: LLM | None = None,
    ):
        self.settings = settings or Settings.load()
        self.embeddings = embeddings or make_embeddings(self.settings)
        self._index = index
        if llm is None and chat_model is not None:
            llm = LLM(chat_model, "The LLM")
        self._llm = llm
        self._llm_built = llm is not None  # else built from settings on first use
        self._vectors = SentenceVectors(self.embeddings)
        self._search: HybridSearch | None = None
        self._lock = threading.Lock()
        self._variants: dict[tuple[object, object], Assistant] = {}  # see configured()

    @property
    def index(self) -> Index:
        with self._lock:
            if self._index is None:
                self._index = Index(self.settings, self.embeddings, create=False)
            return self._index

    @property
    def llm(self) -> LLM | None:
        """The model of the LLM path: the one passed in, else the configured endpoint's, else
        the local one, else None. Built on first use; the local model loads when first asked."""
        with self._lock:
            if not self._llm_built:
                self._llm = make_llm(self.settings)
                self._llm_built = True
            return self._llm

    @property
    def chat_model(self) -> BaseChatModel | None:
        model = self.llm
        return model.chat_model if model is not None else None

    def close(self) -> None:
        """Stop the local model's process, if one runs; the assistant can still be used."""
        with self._lock:
            model = self._llm if self._llm_built else None
        if model is not None and model.local is not None:
            model.local.close()

    @property
    def searcher(self) -> HybridSearch:
        index = self.index
        with self._lock:
            if self._search is None:
                reranker = make_reranker(self.settings.reranker, self.settings.embedding_device)
                self._search = HybridSearch(index, self.embeddings, reranker)
            return self._search

    def configured(self, answer_mode: str | None = None, top_k: int | None = None) -> Assistant:
        """This assistant answering in another mode or from another number of passages.

        It shares the index, models and search caches (one per combination, kept), so a web
        session's settings cost nothing per question. Bad values raise ValueError.
        """
        changes: dict[str, object] = {}
        if answer_mode is not None and answer_mode != self.settings.answer_mode:
            if answer_mode not in ANSWER_MODES:
                raise ValueError(f"answer mode must be one of {', '.join(ANSWER_MODES)}")
            changes["answer_mode"] = answer_mode
        if top_k is not None and top_k != self.settings.top_k:
            if not isinstance(top_k, int) or not 1 <= top_k <= TOP_K_MAX:
                raise ValueError(f"the number of passages must be from 1 to {TOP_K_MAX}")
            changes["top_k"] = top_k
        if not changes:
            return self
        key = (changes.get("answer_mode"), changes.get("top_k"))
        with self._lock:
            variant = self._variants.get(key)
        if variant is None:
            variant = Assistant(
                self.settings.model_copy(update=changes),
                embeddings=self.embeddings,
                index=self.index,
                llm=self.llm,
            )
            variant._search = self.searcher
            variant._vectors = self._vectors
            with self._lock:
                variant = self._variants.setdefault(key, variant)
        return variant

    def retriever(self, k: int = 10, filters: Filters | None = None) -> PassageRetriever:
        """The index as a LangChain retriever, for use in other chains."""
        return PassageRetriever(search=lambda q, n: self.search(q, n, filters), k=k)

    def check_question(self, question: str) -> str:
        return questions.check_question(question, self.settings.max_question_chars)

    def retrieve(self, question: str, k: int = 10, filters: Filters | None = None) -> list[Passage]:
        """The ``k`` passages most relevant to the question, best first."""
        return self.search(self.check_question(question), k, filters)

    def search(self, query: str, k: int, filters: Filters | None = None) -> list[Passage]:
        """Every answer finds its passages here."""
        return self.searcher.search(query, k, filters)

    def ask(
        self,
        question: str,
        history: Sequence[Message] | None = None,
        filters: Filters | None = None,
    ) -> Answer:
        """Answer from the documents, citing each sentence, or refuse when they do not answer."""
        *_, answer = self.events(question, history, filters, streaming=False)
        assert isinstance(answer, Answer)
        return answer

    def stream(
        self,
        question: str,
        history: Sequence[Message] | None = None,
        filters: Filters | None = None,
    ) -> Generator[str | Answer, None, None]:
        """The answer's text as it arrives, then the ``Answer``.

        The ``Answer`` is what counts: its text may differ from the streamed one (citation
        markers added by the check, unsupported sentences marked; a quoted answer after a
        failure).
        """
        return (e for e in self.events(question, history, filters) if isinstance(e, str | Answer))

    def events(
        self,
        question: str,
        history: Sequence[Message] | None = None,
        filters: Filters | None = None,
        *,
        streaming: bool = True,
    ) -> Generator[Status | Retrieved | str | Answer, None, None]:
        """As ``stream``, with the passages as soon as they are found (``Retrieved``) and a
        ``Status`` whenever the answer waits (for the model's turn, for it to load). Closing
        the iterator early stops the model writing."""
        asked = pipeline.parse(self.check_question(question), turns(history))
        mode = self.settings.answer_mode
        model = None if mode == "extractive" else self.llm
        parts = pipeline.Parts(
            llm=model,
            settings=self.settings,
            search=lambda query: self.search(query, self.settings.top_k, filters),
            vectors=self._vectors,
            extractive=extractive.load_model(self.settings.extractive_model),
            scorer=support.load_scorer(),
            notice=_NO_LLM_NOTICE if model is None and mode == "llm" else "",
        )
        # Without a model, or when the model fails to rewrite it, a follow-up that leans on the
        # conversation is searched with the question before it (qa/pipeline.py).
        query = standalone_question(asked.question, asked.turns)
        yield from pipeline.answer(parts, asked, query, streaming)
