"""Sentence-aware chunking within the embedding model's token window, keeping exact offsets.

A chunk is a run of whole sentences whose tokens, plus the document header and the model's
special tokens, fit the window; the next chunk repeats the last sentences up to the overlap.
Only a sentence longer than the window by itself is cut, at token boundaries between words.
Not handled: tables and code get no special treatment; they are cut like prose.
"""

from __future__ import annotations

from dataclasses import dataclass

from .embeddings import TokenAware
from .text import Span, is_heading, sentence_spans


@dataclass(frozen=True)
class _Piece:
    start: int
    end: int
    tokens: int
    heading: bool  # short line with no closing punctuation: belongs with what follows


class SentenceChunker:
    """Splits text into spans of whole sentences that fit ``max_tokens`` model tokens."""

    def __init__(self, tokens: TokenAware, max_tokens: int = 256, overlap_tokens: int = 48):
        self.tokens = tokens
        self._max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens

    @property
    def max_tokens(self) -> int:
        # Asked lazily: the model's window is known only once it is loaded.
        return min(self._max_tokens, self.tokens.max_tokens)

    def budget(self, header: str = "") -> int:
        """Tokens left for the body once the header and the special tokens are counted."""
        reserved = self.tokens.special_tokens + (
            self.tokens.count_tokens([header])[0] if header else 0
        )
        budget = self.max_tokens - reserved
        if budget < 16:
            raise ValueError(
                f"the header leaves only {budget} tokens of a {self.max_tokens}-token chunk"
            )
        return budget

    def split(
        self, text: str, header: str = "", start: int = 0, end: int | None = None
    ) -> list[Span]:
        """Spans of ``text[start:end]``; each ``text[a:b]`` plus ``header`` fits the window."""
        budget = self.budget(header)
        pieces = self._pieces(text, budget, start, end)
        spans: list[Span] = []
        i = 0
        while i < len(pieces):
            j, total = i, 0
            while j < len(pieces) and total + pieces[j].tokens <= budget:
                total += pieces[j].tokens
                j += 1
            # A heading closing a chunk would be cut off from its section: start the next with it.
            if j < len(pieces) and j - 1 > i and pieces[j - 1].heading:
                j -= 1
            spans.append((pieces[i].start, pieces[j - 1].end))
            if j == len(pieces):
                break
            k, carried = j, 0
            while k - 1 > i and carried + pieces[k - 1].tokens <= self.overlap_tokens:
                k -= 1
                carried += pieces[k].tokens
            i = k
        return spans

    def _pieces(self, text: str, budget: int, start: int, end: int | None) -> list[_Piece]:
        sentences = sentence_spans(text, start, end)
        counts = self.tokens.count_tokens([text[a:b] for a, b in sentences])
        pieces: list[_Piece] = []
        for (a, b), n in zip(sentences, counts, strict=True):
            if n <= budget:
                pieces.append(_Piece(a, b, n, is_heading(text[a:b])))
            else:
                pieces.extend(self._cut(text, a, b, budget))
        return pieces

    def _cut(self, text: str, start: int, end: int, budget: int) -> list[_Piece]:
        """Cut one over-long sentence into windows, preferring cuts before a word starts."""
        spans = [(start + a, start + b) for a, b in self.tokens.token_spans(text[start:end])]
        pieces: list[_Piece] = []
        i = 0
        while i < len(spans):
            j = min(i + budget, len(spans))
            if j < len(spans):
                # subtle: WordPiece continuations ("##ing") start right where the last token
                # ended; back up to a token that follows whitespace, unless none is near.
                k = j
                while k > i + budget // 2 and spans[k][0] == spans[k - 1][1]:
                    k -= 1
                if k > i + budget // 2:
                    j = k
            pieces.append(_Piece(spans[i][0], spans[j - 1][1], j - i, False))
            i = j
        # A piece that starts inside a word tokenizes differently on its own: count it again.
        exact = self.tokens.count_tokens([text[p.start : p.end] for p in pieces])
        return [_Piece(p.start, p.end, n, False) for p, n in zip(pieces, exact, strict=True)]
