"""Finding the passages for a question: dense search in Chroma, as a LangChain retriever."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.vectorstores import VectorStore

from .types import Passage


def search_by_vector(store: VectorStore, vector: Sequence[float], k: int) -> list[Passage]:
    """The ``k`` chunks nearest to ``vector``, best first, scored by cosine similarity."""
    # The collection uses cosine distance, so similarity is 1 - distance.
    hits = store.similarity_search_by_vector_with_relevance_scores(list(vector), k=k)  # type: ignore[attr-defined]
    return [Passage.from_document(doc, 1.0 - distance) for doc, distance in hits]


class PassageRetriever(BaseRetriever):
    """Dense retrieval over the index; documents carry the passage fields in their metadata.

    ``page_content`` is the passage body (the header used for embedding is dropped), and
    ``metadata["score"]`` its cosine similarity to the query.
    """

    vectorstore: VectorStore
    k: int = 10

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        vector = self.vectorstore.embeddings.embed_query(query)  # type: ignore[union-attr]
        return [
            Document(page_content=p.text, id=p.id, metadata={**p.metadata, "score": p.score})
            for p in search_by_vector(self.vectorstore, vector, self.k)
        ]
