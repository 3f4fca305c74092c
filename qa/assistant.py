"""The assistant: one index, one embedding model, and the question -> cited answer flow."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

from langchain_core.embeddings import Embeddings

from ingest.embeddings import make_embeddings
from ingest.store import Index
from ingest.text import terms

from . import extractive
from .retrieval import PassageRetriever, search_by_vector
from .settings import Settings
from .types import Answer, Passage

Message = dict[str, str]  # {"role": "user" | "assistant", "content": str}

_NO_LLM_NOTICE = (
    "QA_ANSWER_MODE=llm, but LLM answering is not available in this version; "
    "this answer is extractive (quoted from the documents)."
)
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
    ):
        self.settings = settings or Settings.load()
        self.embeddings = embeddings or make_embeddings(self.settings)
        self._index = index
        self._lock = threading.Lock()

    @property
    def index(self) -> Index:
        with self._lock:
            if self._index is None:
                self._index = Index(self.settings, self.embeddings, create=False)
            return self._index

    def retriever(self, k: int = 10) -> PassageRetriever:
        """The index as a LangChain retriever, for use in other chains."""
        return PassageRetriever(vectorstore=self.index.vectorstore, k=k)

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

    def retrieve(self, question: str, k: int = 10) -> list[Passage]:
        """The ``k`` passages most relevant to the question, best first."""
        question = self.check_question(question)
        vector = self.embeddings.embed_query(question)
        return search_by_vector(self.index.vectorstore, vector, k)

    def ask(self, question: str, history: Sequence[Message] | None = None) -> Answer:
        """Answer from the documents, citing each sentence, or refuse when they do not answer."""
        question = self.check_question(question)
        query = standalone_question(question, history or [])
        vector = self.embeddings.embed_query(query)
        passages = search_by_vector(self.index.vectorstore, vector, self.settings.top_k)
        scored = extractive.score(query, extractive.candidates(passages))
        chosen = extractive.select(
            scored, self.settings.refusal_threshold, self.settings.max_answer_sentences
        )
        text, citations = extractive.compose(chosen)
        notice = _NO_LLM_NOTICE if self.settings.answer_mode == "llm" else ""
        return Answer(
            text=text,
            citations=citations,
            refused=not chosen,
            mode="extractive",
            notice=notice,
            query=query,
            passages=passages,
        )


def standalone_question(question: str, history: Sequence[Message]) -> str:
    """Without an LLM to rewrite follow-ups, prefix a short referring question with the last one.

    "What about Australia?" after "How much did Japan invest?" searches for both; a question
    that does not lean on the conversation is searched as it is.
    """
    if len(set(terms(question))) > _FOLLOW_UP_MAX_TERMS or not _REFERRING.search(question):
        return question
    previous = [m["content"] for m in history if m.get("role") == "user" and m.get("content")]
    return f"{previous[-1]} {question}" if previous else question
