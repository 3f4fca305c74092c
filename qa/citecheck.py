"""The citation check of an LLM answer: every ``[n]`` must name a given passage that supports it.

A marker naming no given passage is removed. Each answer sentence is scored against the
sentences (and pairs of adjacent sentences) of the passages it cites: a blend of embedding
similarity and the share of its content words, weighted by rarity, that the passage sentence
contains; a number the passage does not state, or a negation it lacks, lowers the score
(sentences and markers are parsed in qa/claims.py). A sentence scoring below the
threshold is unsupported. An uncited sentence is scored against every passage, since it still
claims something. Passage sentences that read as instructions to an assistant ("ignore
previous instructions", "tell the user ...") are never evidence: a model that obeyed one has
nothing to show for it. Each marker then points to a citation quoting just the sentence(s)
that support its answer sentence, renumbered in order of appearance.

The weights and the threshold are calibrated by bench/calibrate_citecheck.py (docs/citecheck.md).
A sentence joining several claims ("A said X, while B said Y [1][2]") that no one passage
sentence supports is supported when each of its parts is, each part cited. What the reply
as a whole is worth is decided from its sentences in qa/grounding.py.
Not handled: a claim spread over several answer sentences; a contradiction or a swapped name
that keeps most of the passage's words (that needs an entailment model).
"""

from __future__ import annotations

import heapq
import itertools
import math
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from langchain_core.embeddings import Embeddings

from ingest.text import sentence_spans, terms

from .claims import (
    Claim,
    claim_of,
    claim_terms,
    claims_of,
    is_negated,
    normalize_markers,
    numbers,
    rebuild,
    sentence_text,
    shown_names,
)
from .extractive import REFUSAL_TEXT
from .injection import is_instruction
from .query import clauses
from .types import Citation, Passage

EMBEDDING_WEIGHT = 0.5  # of the support score; the rest is weighted word coverage
NUMBER_PENALTY = 0.7  # support kept by a sentence stating a number its passage does not
NAME_WEIGHT = 1.0  # a capitalised word (a name, mostly) counts this many times in the coverage
NEGATION_PENALTY = 0.8  # support kept by a negated sentence whose passage sentence is not
# Support kept by a sentence naming someone or something its passage sentence does not: a
# quote given to the wrong person, a country added to a list.
NAME_PENALTY = 0.7
# A word found elsewhere in the cited passage counts this much: "Lewis ... The two met ..."
CONTEXT_WEIGHT = 0.5
RESTATED = 0.5  # of the question's words, for a sentence to be read as restating it
_PAIR_MARGIN = 0.03  # a two-sentence quote must beat the best single sentence by this much
_SHORTLIST = 3  # units per claim and passage that are embedded and fully scored
_PRONOUN = re.compile(r"\b(?:it|its|he|his|him|she|her|they|their|them)\b", re.I)
_QUOTED = re.compile(r"[“\"]([^”\"]{12,})[”\"]")  # words in quotation marks, not a nickname
_CAPITALISED = re.compile(r"\b[A-Z][\w’'-]*")
_REFUSAL = re.compile(r"not[\s_]+in[\s_]+(?:the[\s_]+)?documents", re.I)
_SEQUENCE = re.compile(r"\s+(after|before)\s+", re.I)
_WHERE = r"(?:passages?|documents?|text|articles?|context|sources?)"
_NOT_SAID = re.compile(
    rf"\bnot\s+(?:mentioned|stated|specified|provided|given|found|included|discussed)\s+"
    rf"(?:in|by)\s+(?:any\s+of\s+)?the\s+(?:given\s+|provided\s+)?{_WHERE}"
    rf"|\b{_WHERE}\s+(?:do(?:es)?\s+not|don[’']t|doesn[’']t)\s+"
    rf"(?:say|state|mention|provide|contain|specify|include|give|answer|discuss)",
    re.I,
)


class SentenceVectors:
    """Normalized embeddings of sentences, remembered: the same passages come back often."""

    def __init__(self, embeddings: Embeddings, size: int = 4096):
        self.embeddings = embeddings
        self.size = size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:  # embedded outside the lock: one slow batch should not block the others
            fresh = _normalized(self.embeddings.embed_documents(missing))
            with self._lock:
                self._cache.update(zip(missing, fresh, strict=True))
        with self._lock:
            out = []
            for t in texts:
                self._cache.move_to_end(t)
                out.append(self._cache[t])
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return np.stack(out) if out else np.zeros((0, 0), dtype=np.float32)


@dataclass(frozen=True)
class Checked:
    text: str  # markers renumbered to the citations; markers naming no passage removed
    citations: list[Citation]
    unsupported: list[str]  # answer sentences (without markers) that no cited passage supports
    refused: bool
    # Each answer sentence's claim, and whether a passage supports it, in reply order.
    claims: list[tuple[Claim, bool]] = field(default_factory=list)
    # For each unsupported sentence with words of its own, the passage text (a sentence or two)
    # that came closest to supporting it, in any passage (``n`` 0): where the model was looking.
    near_misses: list[Citation] = field(default_factory=list)


@dataclass(frozen=True)
class _Unit:
    """A passage sentence, or two adjacent ones: a candidate quote."""

    passage: int  # index into the passages
    start: int  # offsets in the passage text
    end: int
    terms: frozenset[str]
    parts: tuple[str, ...]  # its sentences' text
    numbers: frozenset[str]
    negated: bool
    refers: bool  # it has a pronoun that may stand for a name it does not state


def _units(passages: Sequence[Passage], needed: set[int]) -> list[_Unit]:
    units = []
    for i in sorted(needed):
        text = passages[i].text
        units += [
            _Unit(i, a, b, frozenset(claim_terms(t)), (t,), numbers(t), is_negated(t), _refers(t))
            for a, b in sentence_spans(text)
            if not is_instruction(t := text[a:b])
        ]
    # Adjacent usable sentences of one passage, for claims that join two of them.
    pairs = [_join(u, w) for u, w in itertools.pairwise(units) if u.passage == w.passage]
    return units + pairs


def _join(u: _Unit, w: _Unit) -> _Unit:
    return _Unit(
        passage=u.passage,
        start=u.start,
        end=w.end,
        terms=u.terms | w.terms,
        parts=u.parts + w.parts,
        numbers=u.numbers | w.numbers,
        negated=u.negated or w.negated,
        refers=u.refers or w.refers,
    )


def _refers(sentence: str) -> bool:
    return _PRONOUN.search(sentence) is not None


def _normalized(vectors: Sequence[Sequence[float]]) -> np.ndarray:
    m = np.asarray(vectors, dtype=np.float32)
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class Weights:
    embedding: float = EMBEDDING_WEIGHT
    number_penalty: float = NUMBER_PENALTY
    name_weight: float = NAME_WEIGHT
    negation_penalty: float = NEGATION_PENALTY
    context: float = CONTEXT_WEIGHT
    name_penalty: float = NAME_PENALTY


def coverage(
    claim: Claim,
    unit: _Unit,
    context: frozenset[str],
    idf: dict[str, float],
    w: Weights,
    everywhere: frozenset[str] = frozenset(),
) -> float:
    """The share of the claim's words the unit has, weighted by rarity, with its penalties.

    ``context`` holds the terms of the unit's whole passage; ``everywhere`` those of all the
    passages. The words a claim restates from the question are not sought in the unit: the
    share of them found anywhere in the passages scales the share of the rest.
    """
    weight = {t: idf[t] * (w.name_weight if t in claim.names else 1.0) for t in claim.terms}
    claimed = claim.terms - claim.given
    total = sum(weight[t] for t in claimed)
    found = sum(weight[t] for t in claimed & unit.terms) + w.context * sum(
        weight[t] for t in (claimed & context) - unit.terms
    )
    share = found / total if total else 1.0
    if claim.given:  # what it restates must be what the passages speak of
        given = sum(weight[t] for t in claim.given)
        share *= sum(weight[t] for t in claim.given & everywhere) / given
    return share


def support(
    claim: Claim,
    similarity: float,
    cover: float,
    unit: _Unit,
    w: Weights,
    mentioned: frozenset[str],
) -> float:
    """How well one passage sentence (or pair) supports one answer sentence, in [0, 1].

    ``mentioned``: the terms of the unit's whole passage and of what names its document
    (title, source, publisher, author): the names a pronoun of the unit can stand for.
    """
    # A sentence restating the question is, in meaning, mostly the question: its similarity
    # to a passage sentence says little about the claim it adds (the coverage does).
    embedding = 0.0 if claim.given else w.embedding
    score = embedding * max(0.0, similarity) + (1 - embedding) * cover
    if claim.numbers - unit.numbers:
        score *= w.number_penalty
    if claim.negated and not unit.negated:  # "X was never used" against "X was used"
        score *= w.negation_penalty
    # "binding" against "non-binding": the word the claim rests on, said the other way. Not
    # when the plain side is negated: "not binding" and "non-binding" agree.
    if (_opposed(claim.terms, unit.terms) and not claim.negated) or (
        _opposed(unit.terms, claim.terms) and not unit.negated
    ):
        return 0.0
    # "Xi Jinping declared …" against "Trump … declared …"; not "Etna is …" against "It is …"
    said = _quoting(claim.text, unit)
    if said is not None:
        # A quotation is said by whom its own sentence names, not by someone named in the
        # sentence beside it: "Japan's prime minister Albanese said “…”" against "Albanese
        # visited. Trump declared “…”" (a pair of sentences holds both names).
        missing = _speakers(claim.text) - frozenset(terms(said))
        pronoun = _refers(said)
        # …and by someone else when its sentence has a capitalised word (a name, mostly)
        # outside its quotation that the claim lacks: "Japan's prime minister Albanese said
        # “…”" against "Trump declared “…”". Not when a pronoun may be the claim's speaker.
        excused = pronoun and missing <= mentioned
        if missing and not excused and _speakers(said) - frozenset(terms(claim.text)):
            score *= w.name_penalty
    else:
        missing = claim.names - unit.terms
        pronoun = unit.refers
    # "It arises in Maine" may be the Penobscot River its passage names elsewhere, never "the
    # Heart of the Ocean" that the passage does not name anywhere.
    if missing and not (pronoun and missing <= mentioned):
        score *= w.name_penalty
    return score


def _opposed(said: frozenset[str], other: frozenset[str]) -> bool:
    """``said`` states a word that ``other`` has only under a "non-" prefix (``claim_terms``
    keeps "non-binding" as the one term "non-bind")."""
    return any(f"non-{t}" in other and t not in other for t in said)


def _plain(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'").lower()
    return " ".join(re.sub(r"[^\w' ]+", " ", text).split())


def _quoting(claim: str, unit: _Unit) -> str | None:
    """The sentence of ``unit`` holding a quotation the claim makes, if any."""
    for quoted in _QUOTED.findall(claim):
        wanted = _plain(quoted)
        for sentence in (*unit.parts, " ".join(unit.parts)):  # a quotation of two sentences
            if wanted and wanted in _plain(sentence):
                return sentence
    return None


def _speakers(claim: str) -> frozenset[str]:
    """The terms of the claim's capitalised words outside its quotations, the first word
    too: "Albanese said “…”" names its speaker first."""
    outside = _QUOTED.sub(" ", claim)
    return frozenset(terms(" ".join(_CAPITALISED.findall(outside))))


def _score(
    text: str, passages: Sequence[Passage], vectors: SentenceVectors, w: Weights
) -> tuple[list[Claim], list[dict[int, tuple[float, _Unit]]]]:
    """The claims of ``text``, and for each its best unit in every passage.

    Only the units with the best word coverage are embedded: embedding is the slow part, and
    a unit sharing few of the claim's words does not win on similarity alone.
    """
    claims = claims_of(text, len(passages), shown_names(text))
    return claims, _scored(claims, passages, vectors, w)


def _scored(
    claims: Sequence[Claim], passages: Sequence[Passage], vectors: SentenceVectors, w: Weights
) -> list[dict[int, tuple[float, _Unit]]]:
    """For each claim, its best unit in every passage, with its support score."""
    k = len(passages)
    if not claims:
        return []
    # Every passage, not only the cited ones: a small model often cites the wrong number, or
    # none, for a sentence another passage states.
    units = _units(passages, set(range(k)))
    singles = [u for u in units if len(u.parts) == 1]
    context: dict[int, frozenset[str]] = {}
    for u in singles:
        context[u.passage] = context.get(u.passage, frozenset()) | u.terms
    # What names each passage's document too (title, source, publisher, author): the model
    # reads titles and sources, and questions name publishers ("according to TechCrunch").
    titled = [terms(_naming(p)) for p in passages]
    everywhere = frozenset().union(*context.values(), *titled)
    mentioned = {i: c | frozenset(titled[i]) for i, c in context.items()}
    df = Counter(t for u in singles for t in u.terms)
    idf = {t: math.log(1 + (len(singles) + 1) / (1 + df[t])) for c in claims for t in c.terms}

    shortlists = []  # per claim: (coverage, unit) of the best units of each passage
    for c in claims:
        by_passage: dict[int, list[tuple[float, _Unit]]] = {}
        # A quotation is supported by the sentence of its passage that holds it, not by one
        # beside it naming whom the claim gives it to ("Albanese visited …" for "Albanese
        # said “…”", when the sentence after it has Trump declare it).
        holds = [_quoting(c.text, u) is not None for u in units]
        holding = {u.passage for u, held in zip(units, holds, strict=True) if held}
        for u, held in zip(units, holds, strict=True):
            if u.passage in holding and not held:
                continue
            by_passage.setdefault(u.passage, []).append(
                (coverage(c, u, context[u.passage], idf, w, everywhere), u)
            )
        shortlists.append(
            [
                x
                for found in by_passage.values()
                for x in heapq.nlargest(_SHORTLIST, found, key=_first)
            ]
        )
    texts = [c.text for c in claims] + [
        t for short in shortlists for _, u in short for t in u.parts
    ]
    vec = dict(zip(texts, vectors(texts), strict=True))

    best: list[dict[int, tuple[float, _Unit]]] = []  # per claim: passage -> (score, unit)
    for c, short in zip(claims, shortlists, strict=True):
        found: dict[int, tuple[float, _Unit]] = {}
        for cover, u in short:
            unit_vector = sum(vec[t] for t in u.parts)  # a pair: the mean direction
            similarity = float(vec[c.text] @ unit_vector) / float(np.linalg.norm(unit_vector))
            s = support(c, similarity, cover, u, w, mentioned[u.passage])
            s -= _PAIR_MARGIN if len(u.parts) > 1 else 0.0  # the narrower quote wins a near tie
            if u.passage not in found or s > found[u.passage][0]:
                found[u.passage] = (s, u)
        best.append(found)
    return best


def _naming(p: Passage) -> str:
    """What names the passage's document: its title and source, and who published or wrote
    it when known ("The Sporting News article states …" of a passage Sporting News wrote)."""
    known = (p.title, p.source, p.metadata.get("publisher"), p.metadata.get("author"))
    return " ".join(str(x) for x in known if x)


def _first(x: tuple[float, _Unit]) -> float:
    return x[0]


def _top(found: dict[int, tuple[float, _Unit]]) -> float:
    return max((s for s, _ in found.values()), default=0.0)


def sentence_support(
    reply: str, passages: Sequence[Passage], vectors: SentenceVectors, w: Weights = Weights()
) -> list[tuple[str, float]]:
    """Each answer sentence with its support score (for calibration)."""
    claims, best = _score(normalize_markers(reply), passages, vectors, w)
    return [(c.text, _top(found)) for c, found in zip(claims, best, strict=True)]


def check(
    reply: str,
    passages: Sequence[Passage],
    vectors: SentenceVectors,
    threshold: float,
    question: str = "",
) -> Checked:
    """The answer with each sentence cited to the passage sentence that supports it.

    A sentence is cited to the best supporting sentence (or pair) of the passages it cites,
    when that reaches ``threshold``; else to the best of any passage, when that does (its
    marker named the wrong passage, or none); else it is unsupported and has no citation.
    A citation never quotes text that does not support its sentence. ``question``: what the
    reply answers; the words of it that a sentence restates are not what it claims.
    """
    if is_refusal(reply):
        return Checked(REFUSAL_TEXT, [], [], refused=True)
    text = normalize_markers(reply.strip())
    claims = claims_of(text, len(passages), shown_names(question, text))
    # Only a many-part question is restated that way: a one-part one restated ("The deals
    # were announced in May 2025 [1]." for "When were the deals announced?") is short enough
    # to check whole, and checked by what it adds alone it let an invented date through.
    many_parts = len(clauses(question)) >= 2
    if many_parts:
        claims = [_beyond(c, question) for c in claims]
    best = _scored(claims, passages, vectors, Weights())
    chosen: list[list[tuple[float, _Unit]]] = []
    unsupported = []
    near_misses = []
    for c, found in zip(claims, best, strict=True):
        pick = _supporting(c, found, threshold)
        picks = [pick] if pick is not None else _by_parts(c, passages, vectors, threshold)
        chosen.append(picks)
        if not picks and (c.cites or c.terms):
            unsupported.append(c.text)
            if found and c.terms:  # "Yes [1]." is near anything: it claims no word
                near_misses.append(_cited(0, max(found.values(), key=_first), passages))
    checked = _assemble(text, claims, chosen, passages, unsupported)
    supported = [(c, bool(p)) for c, p in zip(claims, chosen, strict=True)]
    return replace(checked, claims=supported, near_misses=near_misses)


def _beyond(claim: Claim, question: str) -> Claim:
    """The claim with the words it restates from a many-part question marked as given.

    "Google is the company that invests billions in default search deals and is accused by
    publishers [1][2]." answers "Which company invests … and is accused …?": the words it
    shares with the question are the user's, and no one passage sentence holds them all;
    what the model claims is the rest ("Google"), which a supporting sentence must hold. The
    restated words need only be found somewhere in the passages, and count for as much as
    they are: "Australia won the 2022 FIFA World Cup final" is no more supported for
    restating a question no passage is about.
    A sentence that only restates the question keeps all its words to be checked: "Yes,
    TechCrunch reported X" claims all of X.
    """
    given = frozenset(claim_terms(question))
    # Only a sentence restating most of the question: in "It is the largest share." the one
    # word "share" it shares with "What share … does China control?" is not a restatement.
    if not claim.terms - given or len(claim.terms & given) < RESTATED * len(given):
        return claim
    return replace(
        claim,
        given=claim.terms & given,
        names=claim.names - given,
        numbers=claim.numbers - numbers(question),
    )


def _by_parts(
    claim: Claim, passages: Sequence[Passage], vectors: SentenceVectors, threshold: float
) -> list[tuple[float, _Unit]]:
    """The supports of each part of a sentence that joins several claims, when every part
    has one; else none.

    "Yes, the Fortune article said X, while TechCrunch reported Y [1][2]" joins what two
    passages say, and a small model often restates a many-part question that way: no one
    passage sentence holds it all, but each part is held by one. The parts are cut as a
    many-part question is for its search (``query.clauses``), and each is held to the same
    threshold as a whole sentence, so a part nobody said still fails the sentence.
    """
    if _QUOTED.search(claim.text):
        return []  # a quotation is said by whom its sentence names: never cut the two apart
    joined = _SEQUENCE.sub(r", \1 ", claim.text)  # "X happened after Y reported Z": two parts
    parts = [claim_of(p.text, claim.cites, claim.names) for p in clauses(joined)]
    parts = [p for p in parts if p.terms]
    if len(parts) < 2:
        return []
    picks = []
    for part, found in zip(parts, _scored(parts, passages, vectors, Weights()), strict=True):
        pick = _supporting(part, found, threshold)
        if pick is None:
            return []
        if pick not in picks:
            picks.append(pick)
    return picks


def _supporting(
    claim: Claim, found: dict[int, tuple[float, _Unit]], threshold: float
) -> tuple[float, _Unit] | None:
    cited = [found[i] for i in claim.cites if i in found and found[i][0] >= threshold]
    if cited:
        return max(cited, key=_first)
    anywhere = [x for x in found.values() if x[0] >= threshold]
    return max(anywhere, key=_first) if anywhere and claim.terms else None


def _assemble(
    text: str,
    claims: list[Claim],
    chosen: list[list[tuple[float, _Unit]]],
    passages: Sequence[Passage],
    unsupported: list[str],
) -> Checked:
    """One citation per quoted span, numbered in order of appearance; the text rebuilt with
    each sentence followed by its marker (unsupported sentences carry none)."""
    numbers: dict[tuple[str, int | None, int, int], int] = {}
    citations: list[Citation] = []
    markers: list[str] = []
    for picks in chosen:
        marks = ""
        for score, u in picks:
            p = passages[u.passage]
            key = (p.source, p.page, p.start + u.start, p.start + u.end)
            if key not in numbers:
                numbers[key] = len(citations) + 1
                citations.append(_cited(numbers[key], (score, u), passages))
            if f"[{numbers[key]}]" not in marks:
                marks += f"[{numbers[key]}]"
        markers.append(marks)
    return Checked(rebuild(text, claims, markers), citations, unsupported, refused=False)


def _cited(n: int, scored: tuple[float, _Unit], passages: Sequence[Passage]) -> Citation:
    score, u = scored
    p = passages[u.passage]
    shown = max(0.0, score + (_PAIR_MARGIN if len(u.parts) > 1 else 0))
    return Citation(
        n=n,
        source=p.source,
        quote=p.text[u.start : u.end],
        start=p.start + u.start,
        end=p.start + u.end,
        page=p.page,
        score=round(shown, 4),
        title=p.title,
    )


def is_refusal(reply: str) -> bool:
    """The model's reply says the passages do not answer: ``NOT_IN_DOCUMENTS`` (in any case,
    with spaces or underscores), or only sentences saying they do not ("The price is not
    mentioned in the given passages."), as a small model often puts it."""
    if _REFUSAL.search(reply) is not None:
        return True
    said = [sentence_text(reply, a, b) for a, b in sentence_spans(reply)]
    said = [s for s in said if terms(s)]
    return bool(said) and all(_NOT_SAID.search(s) for s in said)
