"""LangChain's own standard suites, run against our retriever and our embeddings."""

from __future__ import annotations

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests, RetrieversIntegrationTests

from ingest.embeddings import SentenceTransformerEmbeddings
from qa import Assistant
from qa.retrieval import PassageRetriever


class TestPassageRetriever(RetrieversIntegrationTests):
    assistant: Assistant

    @pytest.fixture(autouse=True)
    def _seed(self, seed_assistant: Assistant) -> None:
        type(self).assistant = seed_assistant

    @property
    def retriever_constructor(self) -> type[PassageRetriever]:
        return PassageRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, object]:
        return {"search": self.assistant.search, "k": 3}

    @property
    def retriever_query_example(self) -> str:
        return "rare earth processing in China"


class TestSentenceTransformerEmbeddings(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[SentenceTransformerEmbeddings]:
        return SentenceTransformerEmbeddings
