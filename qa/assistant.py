"""The assistant: one index, one embedding model, and the question -> cited answer flow."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from ingest.embeddings import make_embeddings
from ingest.store import Index
from ingest.text import terms

from . import citecheck, extractive, llm
from .claims import LiveMarkers
from .faults import Deadline, LLMUnavailable, within_deadline
from .rerank import make_reranker
from .retrieval import Filters, HybridSearch, PassageRetriever
from .settings import ANSWER_MODES, TOP_K_MAX, Settings
from .types import Answer, Passage

Message = dict[str, str]  # {"role": "user" | "assistant", "content": str}

_NO_LLM_NOTICE = (
    "QA_ANSWER_MODE=llm, but no LLM is configured (set QA_LLM_MODEL, and OPENAI_BASE_URL or "
    "OPENAI_API_KEY); this answer is quoted from the documents."
)
_FALLBACK_NOTICE = "The LLM could not answer ({}); this answer is quoted from the documents."
_FOLLOW_UP_MAX_TERMS = 6  # a longer question stands on its own
# Openings and pronouns by which a short question leans on the conversation before it.
_REFERRING = re.compile(
    r"^\s*(and|but|also|so|what about|how about)\b"
    r"|\b(it|its|they|them|their|this|that|these|those|he|she|him|her|there)\b",
    re.IGNORECASE,
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
    ):
        self.settings = settings or Settings.load()
        self.embeddings = embeddings or make_embeddings(self.settings)
        self._index = index
        self._chat_model = chat_model
        self._vectors = citecheck.SentenceVectors(self.embeddings)
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
    def chat_model(self) -> BaseChatModel | None:
        """The model of the LLM path: the one passed in, else one from settings, else None."""
        with self._lock:
            if self._chat_model is None and llm.llm_configured(self.settings):
                self._chat_model = llm.make_chat_model(self.settings)
            return self._chat_model

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
                chat_model=self.chat_model,
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
        if not isinstance(question, str) or not question.strip():
            raise ValueError("the question is empty: ask something about the documents")
        question = question.strip()
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise ValueError(
                f"the question is {len(question)} characters long; the limit is {limit} "
                "(QA_MAX_QUESTION_CHARS)"
            )
        return question

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
        *_, answer = self._answer(question, history, filters, streaming=False)
        assert isinstance(answer, Answer)
        return answer

    def stream(
        self,
        question: str,
        history: Sequence[Message] | None = None,
        filters: Filters | None = None,
    ) -> Iterator[str | Answer]:
        """The answer's text as it arrives, then the ``Answer``.

        The ``Answer`` is what counts: its text may differ from the streamed one (markers
        renumbered or removed by the citation check; an extractive answer after a failure).
        """
        return self._answer(question, history, filters, streaming=True)

    def _answer(
        self,
        question: str,
        history: Sequence[Message] | None,
        filters: Filters | None,
        *,
        streaming: bool,
    ) -> Iterator[str | Answer]:
        question = self.check_question(question)
        turns = _turns(history)
        mode = self.settings.answer_mode
        model = None if mode == "extractive" else self.chat_model
        if model is None:
            notice = _NO_LLM_NOTICE if mode == "llm" else ""
            yield from _shown(
                self._extractive(standalone_question(question, turns), notice, filters)
            )
            return
        deadline = Deadline(self.settings.llm_timeout)
        try:
            query = self._condense(model, question, turns, deadline) if turns else question
        except LLMUnavailable as err:
            notice = _FALLBACK_NOTICE.format(err.reason)
            yield from _shown(
                self._extractive(standalone_question(question, turns), notice, filters)
            )
            return
        passages = self.search(query, self.settings.top_k, filters)
        if not passages:
            yield from _shown(self._extractive(query, "", filters, passages))
            return
        parts: list[str] = []  # all the model said, including what is held back
        live = LiveMarkers(len(passages))
        try:
            generated = self._generate(model, query, passages, deadline, streaming)
            for piece in _hold_refusal(_recorded(generated, parts)):
                if shown := live.feed(piece):
                    yield shown
            if rest := live.flush():
                yield rest
        except LLMUnavailable as err:
            yield self._extractive(query, _FALLBACK_NOTICE.format(err.reason), filters, passages)
            return
        reply = "".join(parts)
        if not reply.strip():
            notice = _FALLBACK_NOTICE.format("its reply was empty")
            yield self._extractive(query, notice, filters, passages)
            return
        checked = citecheck.check(reply, passages, self._vectors, self.settings.support_threshold)
        yield Answer(
            text=checked.text,
            citations=checked.citations,
            refused=checked.refused,
            mode="llm",
            query=query,
            passages=passages,
            unsupported=checked.unsupported,
        )

    def _condense(
        self, model: BaseChatModel, question: str, turns: list[Message], deadline: Deadline
    ) -> str:
        """The follow-up rewritten by the model into a question that stands on its own."""
        messages = llm.condense_messages(question, turns, self.settings.prompts_dir)

        def call(timeout: float) -> Iterator[str]:
            yield llm.text_chain(llm.with_timeout(model, timeout)).invoke(messages)

        reply = "".join(within_deadline(call, deadline, self.settings.llm_max_retries))
        return llm.standalone_from_reply(reply, question, self.settings.max_question_chars)

    def _generate(
        self,
        model: BaseChatModel,
        query: str,
        passages: list[Passage],
        deadline: Deadline,
        streaming: bool,
    ) -> Iterator[str]:
        """The model's answer, in pieces; ``LLMUnavailable`` when it gives none in time."""
        # Rendered here, not in the worker: a broken prompt file is an error, not a fault.
        messages = llm.answer_messages(query, passages, self.settings.prompts_dir)

        def call(timeout: float) -> Iterator[str]:
            chain = llm.text_chain(llm.with_timeout(model, timeout))
            return chain.stream(messages) if streaming else iter([chain.invoke(messages)])

        return within_deadline(call, deadline, self.settings.llm_max_retries)

    def _extractive(
        self,
        query: str,
        notice: str,
        filters: Filters | None = None,
        passages: list[Passage] | None = None,
    ) -> Answer:
        """The answer quoted from the passages (found for ``query`` unless given)."""
        if passages is None:
            passages = self.search(query, self.settings.top_k, filters)
        found = extractive.answer(
            query,
            passages,
            extractive.load_model(self.settings.extractive_model),
            max_sentences=self.settings.max_answer_sentences,
            refusal=self.settings.refusal_threshold,
            vectors=self._vectors,
            query_vector=self.embeddings.embed_query,
        )
        return Answer(
            text=found.text,
            citations=found.citations,
            refused=found.refused,
            mode="extractive",
            notice=" ".join(n for n in (notice, found.notice) if n),
            query=query,
            passages=passages,
        )


def _shown(answer: Answer) -> Iterator[str | Answer]:
    yield answer.text
    yield answer


def _turns(history: Sequence[Message] | None) -> list[Message]:
    """The conversation's user and assistant messages with text; anything else is dropped."""
    return [
        {"role": m["role"], "content": m["content"]}
        for m in history or []
        if m.get("role") in ("user", "assistant")
        and isinstance(m.get("content"), str)
        and m["content"].strip()
    ]


def _recorded(pieces: Iterator[str], into: list[str]) -> Iterator[str]:
    for piece in pieces:
        into.append(piece)
        yield piece


def _hold_refusal(pieces: Iterator[str]) -> Iterator[str]:
    """The pieces, but none while they could still spell NOT_IN_DOCUMENTS (never shown)."""
    held: str | None = ""
    for piece in pieces:
        if held is None:
            yield piece
            continue
        held += piece
        if not llm.NOT_IN_DOCUMENTS.startswith(held.strip()):
            yield held
            held = None  # the reply is something else: pass everything through


def standalone_question(question: str, history: Sequence[Message]) -> str:
    """Without an LLM to rewrite follow-ups, prefix a short referring question with the last one.

    "What about Australia?" after "How much did Japan invest?" searches for both; a question
    that does not lean on the conversation is searched as it is.
    """
    if len(set(terms(question))) > _FOLLOW_UP_MAX_TERMS or not _REFERRING.search(question):
        return question
    previous = [m["content"] for m in history if m.get("role") == "user" and m.get("content")]
    return f"{previous[-1]} {question}" if previous else question
