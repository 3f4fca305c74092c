"""Chunks: whole sentences, inside the model's window, with exact offsets and overlap."""

from __future__ import annotations

import itertools
import random

import pytest

from ingest.embeddings import ApproximateTokens
from ingest.split import SentenceChunker
from ingest.text import sentence_spans

from .conftest import SEED_FILE

HEADER = "U.S. Strikes Strategic Mineral Deals in Asia\n"


def _window_ok(
    chunker: SentenceChunker, text: str, spans: list[tuple[int, int]], header: str
) -> None:
    tokens = chunker.tokens
    counts = tokens.count_tokens([header + text[a:b] for a, b in spans])
    for (a, b), n in zip(spans, counts, strict=True):
        assert n + tokens.special_tokens <= chunker.max_tokens, f"chunk {a}-{b} has {n} tokens"


def test_seed_chunks_fit_the_window_and_cover_every_sentence(embeddings) -> None:  # type: ignore[no-untyped-def]
    text = SEED_FILE.read_text(encoding="utf-8")
    chunker = SentenceChunker(embeddings, max_tokens=256, overlap_tokens=48)
    spans = chunker.split(text, HEADER)
    assert len(spans) >= 2
    _window_ok(chunker, text, spans, HEADER)
    sentences = sentence_spans(text)
    starts = {a for a, _ in sentences}
    ends = {b for _, b in sentences}
    for a, b in spans:
        assert a in starts and b in ends, "a chunk starts or ends inside a sentence"
    for a, b in sentences:
        assert any(ca <= a and b <= cb for ca, cb in spans), f"sentence {a}-{b} in no chunk"
    # Consecutive chunks overlap by at least one sentence, so no fact falls between them.
    for (_, b1), (a2, _) in itertools.pairwise(spans):
        assert a2 < b1


def test_long_sentence_is_cut_between_words(embeddings) -> None:  # type: ignore[no-untyped-def]
    words = [f"word{i}" for i in range(400)]
    text = "Short opening sentence. " + " ".join(words) + ". Short closing sentence."
    chunker = SentenceChunker(embeddings, max_tokens=64, overlap_tokens=0)
    spans = chunker.split(text)
    _window_ok(chunker, text, spans, "")
    covered = "".join(text[a:b] for a, b in spans)
    assert covered.replace(" ", "") == text.replace(" ", "")
    for a, _ in spans:
        assert a == 0 or text[a - 1] == " ", "cut inside a word"


@pytest.mark.parametrize("seed", range(5))
def test_random_text_keeps_the_invariants(embeddings, seed: int) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    vocab = [
        "rare",
        "earth",
        "U.S.",
        "Dr.",
        "processing",
        "2.5%",
        "“quoted”",
        "naïve",
        "https://x.io/a.b",
        "e.g.",
        "ok",
    ]
    parts = []
    for _ in range(rng.randint(20, 80)):
        sentence = " ".join(rng.choice(vocab) for _ in range(rng.randint(1, 90)))
        parts.append(
            sentence.capitalize()
            + rng.choice([".", "!", "?", ""])
            + rng.choice([" ", "\n", "\n\n"])
        )
    parts.append("x" * rng.randint(0, 3000))  # a run with no space at all
    text = "".join(parts)
    chunker = SentenceChunker(
        embeddings, max_tokens=rng.choice([48, 128, 256]), overlap_tokens=rng.choice([0, 16, 48])
    )
    spans = chunker.split(text, "Title\n")
    _window_ok(chunker, text, spans, "Title\n")
    for a, b in sentence_spans(text):
        assert any(ca <= a and b <= cb for ca, cb in spans) or any(
            a <= ca < b for ca, _ in spans
        ), "a sentence was neither kept whole nor cut"


def test_approximate_tokens_for_models_without_a_local_tokenizer() -> None:
    text = SEED_FILE.read_text(encoding="utf-8")
    chunker = SentenceChunker(
        ApproximateTokens("openai:x", max_tokens=512), max_tokens=128, overlap_tokens=0
    )
    spans = chunker.split(text)
    _window_ok(chunker, text, spans, "")
    assert spans[0][0] == 0 and spans[-1][1] == len(text.rstrip())
