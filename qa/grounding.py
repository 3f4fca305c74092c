"""Whether an answer written by the model is grounded in the passages: what to show of it.

Every sentence is cited to the passage sentence that supports it, or to none (``citecheck``).
Then, for the answer as a whole:
- the model said the passages do not answer (``NOT_IN_DOCUMENTS``): a refusal;
- no sentence is supported: the answer is not shown as the model wrote it; the caller quotes
  the documents instead (which refuses when they do not answer), saying why in the notice;
- the sentence that answers a one-part question (the one restating most of it; for a
  yes-or-no question not about what documents say, its verdict) is unsupported: the same,
  however well the others are supported (they were copied beside a made-up answer);
- a yes-or-no question is answered "Yes" with a word of the question no passage has ("Yes,
  China's grip … is weakening" of "remains firm"): the same;
- the question asks how many, much, large or big, and no supported sentence states a
  figure: the same, with a notice saying so;
- some sentences are supported: shown, the unsupported ones marked (``unsupported``).
Not handled: a supported sentence that does not answer the question (see docs/citecheck.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ingest.text import terms

from . import citecheck
from .answer_types import asks_count, asks_yes_or_no, has_kind
from .claims import Claim, claim_terms
from .query import clauses
from .settings import Settings
from .types import Citation, Passage

UNSUPPORTED_NOTICE = (
    "The model's answer is not supported by the documents ({}); this answer is quoted from them."
)
NO_FIGURE_NOTICE = (
    "The model's answer does not state the figure asked for ({}); this answer is quoted from "
    "the documents."
)
# When the quoted answer that would replace it is not likely enough to answer either.
REFUSED_NOTICE = "The model's answer is not supported by the documents ({}), nor is any quote."
NO_FIGURE_REFUSED_NOTICE = (
    "The model's answer does not state the figure asked for ({}), nor does any quote."
)
# Figures in words that ``has_kind("number", …)`` (a cue of the fitted extractive model, so
# left as it is) does not take: "thousands attended", "a third of it", "none".
_MORE_FIGURES = re.compile(
    r"\b(?:hundreds|thousands|millions|billions|dozens|several|third|quarter|"
    r"none|no one|nobody|nothing)\b",
    re.I,
)
# Words of a question about what documents say, not about the world.
_DOCUMENTS = re.compile(
    r"\b(?:articles?|reports?|reported|reporting|stor(?:y|ies)|coverage|passages?|documents?|"
    r"publish(?:ed|es)?|according to|describ(?:e|es|ed)|portray(?:s|ed)?|suggest(?:s|ed)?)\b",
    re.I,
)
_YES = re.compile(r"^\W*yes\b", re.I)
# Words a right "Yes" repeats from its question that passages seldom say: "Is it true that
# …?", "Does China still …?". They assert nothing the rest of the question does not.
_HEDGES = frozenset(
    claim_terms("true truly really actually indeed still currently already ever also even just")
)
_SHOWN_CHARS = 200  # of the model's unsupported answer, in the notice


@dataclass(frozen=True)
class Grounded:
    text: str
    citations: list[Citation]
    unsupported: list[str]
    refused: bool
    quote_instead: str = ""  # non-empty: show the quoted answer, with this notice
    refused_notice: str = ""  # the notice if the quoted answer is refused instead
    near_misses: list[Citation] = field(default_factory=list)  # ``citecheck.Checked``'s


def check(
    reply: str,
    passages: Sequence[Passage],
    vectors: citecheck.SentenceVectors,
    settings: Settings,
    question: str = "",
) -> Grounded:
    checked = citecheck.check(reply, passages, vectors, settings.support_threshold, question)
    grounded = Grounded(checked.text, checked.citations, checked.unsupported, checked.refused)
    if checked.refused:
        return grounded
    notices, said = (UNSUPPORTED_NOTICE, REFUSED_NOTICE), " ".join(checked.unsupported)
    made_up = _unsupported_answer(checked.claims, question, passages) or _yes_to_the_unsaid(
        checked.claims, question, passages
    )
    if made_up:
        said = made_up
    elif _lacks_figure(checked.claims, question):
        notices = (NO_FIGURE_NOTICE, NO_FIGURE_REFUSED_NOTICE)
        said = " ".join(c.text for c, _ in checked.claims)
    elif checked.citations or not checked.unsupported:
        return grounded
    if len(said) > _SHOWN_CHARS:
        said = said[: _SHOWN_CHARS - 1].rstrip() + "…"
    return Grounded(
        checked.text,
        [],
        checked.unsupported,
        refused=False,
        quote_instead=notices[0].format(f"“{said}”"),
        refused_notice=notices[1].format(f"“{said}”"),
        near_misses=checked.near_misses,
    )


def _unsupported_answer(
    claims: Sequence[tuple[Claim, bool]], question: str, passages: Sequence[Passage]
) -> str:
    """The sentence answering a one-part question (restating most of its words, at least
    ``citecheck.RESTATED`` of them), when no passage supports it; else "".

    A small model answering a question its passages do not answer often opens with an answer
    of its own ("Coals in a wood fire are hot, but not as hot as a flame.") and goes on to copy
    the passage sentences nearest the topic, each supported by its own. Not for a many-part
    question, whose restatement is checked by what it adds or by its parts, and fails more
    often by the check's miss than the model's (MultiHop-RAG dev, 200 recorded replies:
    accuracy 0.500 -> 0.485 when held to it, before ``llm_unsupported_refusal``). A yes-or-no
    question is answered by the verdict restating it ("Yes, the agreements are binding", of
    non-binding ones), and held to it, unless it asks what documents say: "Does the Guardian
    article describe X differently than …?" is a judgment no one sentence states (held to it
    too: 0.495 -> 0.470, with that bar). Of a one- or two-word question, any sentence sharing
    one word restates it: the rule is only as sharp as the question is long.
    """
    asked = frozenset(claim_terms(question))
    if not claims or not asked or len(clauses(question)) >= 2:
        return ""
    if asks_yes_or_no(question) and _about_documents(question, asked, passages):
        return ""
    claim, supported = max(claims, key=lambda x: len(x[0].terms & asked))  # the first of ties
    restated = len(claim.terms & asked) >= citecheck.RESTATED * len(asked)
    return claim.text if restated and not supported else ""


def _yes_to_the_unsaid(
    claims: Sequence[tuple[Claim, bool]], question: str, passages: Sequence[Passage]
) -> str:
    """The "Yes" answering a yes-or-no question (not one about what documents say) when it
    restates a word of the question that no passage has; else "".

    "Yes, China's grip on rare earth processing is weakening" of passages where it "remains
    firm": the yes asserts the question's every word, and the rest of the sentence, the
    passage's own, outweighs in the score the one word asserted on nothing ("weakening"). A
    "No" asserts no such word ("No, the agreements are not binding" of "non-binding" ones).
    Many-part questions too ("Despite all these deals, is China's grip … weakening?"). The
    verdict opens the reply: its first sentence, or the one after a bare "Yes.".
    """
    said = [c for c, _ in claims]
    if not said or not _YES.match(said[0].text) or not asks_yes_or_no(question):
        return ""
    asked = frozenset(claim_terms(question))
    if _about_documents(question, asked, passages):
        return ""
    verdict = said[0] if said[0].terms or len(said) == 1 else said[1]
    found = frozenset().union(*(claim_terms(f"{p.title} {p.text}") for p in passages))
    # "non-binding" is said by "not binding" too; "binding" is not said by "non-binding".
    found |= {f"non-{t}" for t in found}
    return verdict.text if (verdict.terms & asked) - found - _HEDGES else ""


def _about_documents(question: str, asked: frozenset[str], passages: Sequence[Passage]) -> bool:
    """The question asks what documents say ("Does the Guardian article describe …?", "Did
    TechCrunch report X after …?"): it names an article or report, or who published one of
    its passages (``asked``: the question's terms)."""
    if _DOCUMENTS.search(question):
        return True
    published = (str(p.metadata.get("publisher") or "") for p in passages)
    return any(named and named <= asked for named in (frozenset(terms(x)) for x in published))


def _lacks_figure(claims: Sequence[tuple[Claim, bool]], question: str) -> bool:
    """A "how many/much/large/big" question whose supported sentences state no figure
    ("Lynas remains the largest supplier outside China" for "How large is the deal?").

    Only those: "how long/often" are answered in words as often ("for several decades").
    """
    said = [c.text for c, supported in claims if supported]
    return (
        bool(claims)
        and asks_count(question)
        and not any(has_kind("number", t) or _MORE_FIGURES.search(t) for t in said)
    )
