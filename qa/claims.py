"""Answer sentences and their ``[n]`` markers: parsing, renumbering, and the words that matter.

Markers follow the sentence they cite, before or after its full stop; ``[1, 2]`` is two
markers. Markers opening a sentence or standing alone belong to the sentence before.
Not handled: markers in other shapes (superscripts, "(1)", "【1】"); they stay as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.text import sentence_spans, terms

_MARKERS = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_ONE_MARKER = re.compile(r"\[(\d+)\]")
_PUNCTUATION_ONLY = re.compile(r"[\W_]*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
} | {"thirty": "30", "forty": "40", "fifty": "50", "hundred": "100", "thousand": "1000"}
_VERDICT = re.compile(r"^(?:yes|no)\s*[,.;:!—–-]\s*", re.I)
_NAME = re.compile(r"\b[A-Z][\w’'.-]*")
_WORD = re.compile(r"\b[^\W\d_][\w’'.-]*")
_NEGATION = re.compile(
    r"\b(?:not|never|no|none|nobody|nothing|neither|nor|cannot|without)\b|n[’']t\b", re.I
)
_NON = re.compile(r"\bnon[-‐‑–](\w[\w’']*)", re.I)  # "non-binding"; not "sine qua non for"
# Words about the answer itself ("according to the passages"), not about the world.
_META = frozenset(
    terms(
        "passage passages document documents text source sources answer question provided based "
        "yes"  # "Yes." says what follows does; there is nothing to check in it alone
    )
)


@dataclass
class Claim:
    text: str  # the answer sentence without markers
    terms: frozenset[str]
    numbers: frozenset[str]
    names: frozenset[str]  # terms of its capitalised words (the first: when known to be one)
    negated: bool
    cites: list[int] = field(default_factory=list)  # passage indexes, in order, no repeats
    # (start, end) of each of its markers in the text, and the passage index (None: removed)
    marks: list[tuple[int, int, int | None]] = field(default_factory=list)
    span: tuple[int, int] = (0, 0)  # the sentence in the answer text, markers included
    # Its words restated from the question: sought in all the passages, not in the one
    # sentence that supports the rest (qa/citecheck.py).
    given: frozenset[str] = frozenset()


def claim_terms(text: str) -> list[str]:
    """``terms(text)``, a word under a "non-" prefix kept apart as "non-" and its stem:
    "non-binding" is not "binding", nor "non-Chinese investment" "Chinese investment" (a
    prefix no negation word marks, so the negation check cannot see it). Hyphenated only:
    "nonprofit" and "none" are words of their own."""
    prefixed = [f"non-{t}" for t in terms(" ".join(m.group(1) for m in _NON.finditer(text)))]
    return terms(_NON.sub(" ", text)) + prefixed


def shown_names(*texts: str) -> frozenset[str]:
    """The terms of the words ``texts`` capitalise inside a sentence: names, mostly.

    A sentence's first word is capitalised whatever it is; it is a name when the question or
    the answer writes it so elsewhere ("Indonesia agreed …" for "What did Indonesia agree
    to?").
    """
    found: list[str] = []
    for text in texts:
        for a, b in sentence_spans(text):
            words = _WORD.findall(text, a, b)[1:]
            capitalised = [w for w in words if w[0].isupper()]
            # Title Case or capitals throughout ("Which Countries Signed Deals?") say nothing
            # of which words are names.
            if len(capitalised) * 2 <= len(words):
                found += capitalised
    return frozenset(terms(" ".join(found)))


def claim_of(
    text: str, cites: list[int] | None = None, names: frozenset[str] = frozenset()
) -> Claim:
    """The claim of one answer sentence (``text`` without markers); ``names``: terms known to
    be names (``shown_names``), which count as names even as the first word."""
    # A yes-or-no verdict opening the sentence ("No, the two reports differ") is not checked:
    # what follows it is. Its "No" does not make the rest a negation.
    said = _VERDICT.sub("", text, count=1)
    # Not the first word, unless known to be a name: every sentence starts with a capital.
    capitalised = [
        m.group(0) for m in _NAME.finditer(text) if m.start() > 0 or _known(m.group(0), names)
    ]
    names = frozenset(terms(" ".join(capitalised)))
    content = frozenset(claim_terms(said)) - _META
    negated = is_negated(said)
    return Claim(text, content, numbers(said), names & content, negated, list(cites or []))


def _known(word: str, names: frozenset[str]) -> bool:
    found = terms(word)
    return bool(found) and set(found) <= names


def is_negated(text: str) -> bool:
    return bool(_NEGATION.search(text))


def numbers(text: str) -> frozenset[str]:
    """The numbers of ``text``, digits or words: "five" and "5" are the same number."""
    words = (_NUMBER_WORDS.get(w) for w in re.findall(r"[a-z]+", text.lower()))
    return frozenset(n.replace(",", "") for n in _NUMBER.findall(text)) | {w for w in words if w}


def normalize_markers(text: str) -> str:
    """``[1, 2]`` -> ``[1][2]``: one marker per passage."""
    return _MARKERS.sub(lambda m: "".join(f"[{n.strip()}]" for n in m.group(1).split(",")), text)


def sentence_text(text: str, a: int, b: int) -> str:
    """The sentence ``text[a:b]`` as its claim holds it: markers removed, spacing normalized."""
    words = _ONE_MARKER.sub(" ", text[a:b])
    return re.sub(r"\s+([.,;:!?])", r"\1", " ".join(words.split()))


def claims_of(text: str, k: int, names: frozenset[str] = frozenset()) -> list[Claim]:
    """The answer's sentences with their markers (``text`` has one passage per marker);
    ``names`` as for ``claim_of``.

    Markers opening a sentence ("... processing. [1] The ...") or standing alone belong to
    the sentence before.
    """
    claims: list[Claim] = []
    for a, b in sentence_spans(text):
        marks = [(m.start(), m.end(), int(m.group(1))) for m in _ONE_MARKER.finditer(text, a, b)]
        lead, pos = 0, a
        while lead < len(marks) and not text[pos : marks[lead][0]].strip():
            pos = marks[lead][1]
            lead += 1
        words = sentence_text(text, a, b)
        previous = claims[-1] if claims else None
        if words and not _PUNCTUATION_ONLY.fullmatch(words):
            claims.append(claim_of(words, names=names))
            claims[-1].span = (a, b)
        current = claims[-1] if claims else None  # markers alone belong to the sentence before
        for i, (s, e, n) in enumerate(marks):
            owner = previous if i < lead and previous is not None else current
            if owner is None:
                continue  # a marker before any sentence: removed
            index = n - 1 if 1 <= n <= k else None
            owner.marks.append((s, e, index))
            if index is not None and index not in owner.cites:
                owner.cites.append(index)
    return claims


class LiveMarkers:
    """Streamed text with its markers numbered as the checked answer will most likely be.

    The check numbers citations in order of appearance; so does this, per passage (a passage
    quoted for two different sentences becomes two citations only after the check). Markers
    naming no given passage are dropped. A marker split across pieces is held back whole.
    """

    _PARTIAL = re.compile(r"\[[\d,\s]*$")

    def __init__(self, k: int):
        self.k = k
        self.numbers: dict[int, int] = {}  # passage number -> shown number
        self.held = ""

    def feed(self, piece: str) -> str:
        text, self.held = self.held + piece, ""
        partial = self._PARTIAL.search(text)
        if partial and len(text) - partial.start() <= 16:
            text, self.held = text[: partial.start()], text[partial.start() :]
        return _MARKERS.sub(self._renumber, text)

    def flush(self) -> str:
        text, self.held = self.held, ""
        return _MARKERS.sub(self._renumber, text)

    def _renumber(self, marker: re.Match[str]) -> str:
        shown = []
        for n in (int(x) for x in marker.group(1).split(",")):
            if 1 <= n <= self.k:
                shown.append(f"[{self.numbers.setdefault(n, len(self.numbers) + 1)}]")
        return "".join(dict.fromkeys(shown))


_END = re.compile(r"[.!?]+$")


def with_markers(sentence: str, markers: str) -> str:
    """``sentence`` with ``markers`` ("[1][2]") before its final full stop, if any."""
    if not markers:
        return sentence
    end = _END.search(sentence)
    if end is None:
        return f"{sentence} {markers}"
    return f"{sentence[: end.start()].rstrip()} {markers}{end.group(0)}"


def rebuild(text: str, claims: list[Claim], markers: list[str]) -> str:
    """The answer as its claims, each with its new markers (its old ones dropped); a line
    break between two sentences is kept, any other gap becomes a space."""
    out: list[str] = []
    previous_end = 0
    for claim, marks in zip(claims, markers, strict=True):
        a, b = claim.span
        if out:
            out.append("\n" if "\n" in text[previous_end:a] else " ")
        out.append(with_markers(claim.text, marks))
        previous_end = b
    return "".join(out)


def rewrite_markers(text: str, kept: dict[int, str]) -> str:
    """``text`` with each marker starting at a key of ``kept`` replaced, and the rest removed."""
    out, pos = [], 0
    for m in _ONE_MARKER.finditer(text):
        piece = text[pos : m.start()]
        new = kept.get(m.start(), "")
        if not new and not text.startswith("[", m.end()):
            piece = piece.rstrip(" \t")  # "sentence [9]." -> "sentence."
        out += [piece, new]
        pos = m.end()
    out.append(text[pos:])
    return "".join(out).strip()
