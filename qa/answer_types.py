"""What kind of answer a question asks for, and whether a sentence has something of that kind.

The cues are cheap and only point: a "how many" question wants a quantity, "when" a time,
"who" a name, "where" a place, "why" a reason. The extractive model (qa/extractive_model.py)
learns how much each cue counts; none of them decides alone.
Not handled: the kinds a named-entity tagger would tell apart (a person's name from a
company's), questions in other languages.
"""

from __future__ import annotations

import re

KINDS = ("number", "time", "person", "place", "reason")

_LEAD = r"\s*(?:(?:and|so|but|also|then|ok|okay)\W+)?"
_WANTS = {
    "number": re.compile(
        _LEAD + r"(?:how (?:many|much|long|old|far|big|large|tall|high|deep|often|fast)|"
        r"what (?:share|percentage|percent|proportion|fraction|number|amount|price|cost|size|"
        r"rate)|at what (?:price|rate|age)|number of)\b",
        re.I,
    ),
    "time": re.compile(
        _LEAD + r"(?:when|(?:in |on |by |since )?what (?:year|date|day|month|time|decade|"
        r"century|era|period))\b",
        re.I,
    ),
    "person": re.compile(_LEAD + r"(?:who|whom|whose)\b", re.I),
    "place": re.compile(
        _LEAD + r"(?:where|(?:in |to |from )?(?:what|which) (?:country|countries|city|cities|"
        r"state|states|place|region|town|continent|county|province))\b",
        re.I,
    ),
    "reason": re.compile(_LEAD + r"(?:why|what (?:causes|caused|is the reason))\b", re.I),
}
_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
    r"fifty|hundred|thousand|million|billion|trillion|dozen|half|percent|twice|double|triple)\b",
    re.I,
)
_TIME = re.compile(
    r"\d|\b(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|monday|tuesday|wednesday|"
    r"thursday|friday|saturday|sunday|today|yesterday|tomorrow|tonight|week|month|year|decade|"
    r"century|morning|evening|night|spring|summer|autumn|winter|ago|later|earlier|soon|recently|"
    r"now|during|before|after|until|since)\b",
    re.I,
)
_REASON = re.compile(
    r"\b(?:because|due to|since|as a result|owing to|so that|in order to|reasons?|caus(?:e|ed|es)|"
    r"led to|leads to|result(?:ed|s)? (?:in|from)|thanks to|therefore|hence)\b",
    re.I,
)
# A capitalised word not opening the sentence: a name, mostly (of a person, place, group).
_NAME = re.compile(r"(?<=[\w,;:()\"'’”] )[A-Z][\w’'.-]*")


_AUXILIARY = frozenset(
    "is are was were am do does did has have had can could will would should shall may might "
    "must isn't aren't wasn't weren't doesn't don't didn't hasn't haven't".split()
)
_WH = frozenset("who whom whose what which when where why how".split())
_SEGMENT = re.compile(r"[,;:]")


def asks_yes_or_no(question: str) -> bool:
    """A question answered by yes or no: "Does the report say …?", "After X reported Y, was
    the reporting consistent?". Not when it asks who, what, which, … anywhere it starts a
    clause ("Who is the person that, according to X, is accused …?")."""
    firsts = [
        seg.split()[0].lower().replace("’", "'") for seg in _SEGMENT.split(question) if seg.split()
    ]
    if not firsts or any(w in _WH for w in firsts):
        return False
    return any(w in _AUXILIARY for w in firsts)


def wanted(question: str) -> str | None:
    """The kind of answer the question asks for (one of KINDS), or None."""
    for kind, pattern in _WANTS.items():
        if pattern.match(question):
            return kind
    return None


def names(sentence: str) -> list[str]:
    """Capitalised words that do not open the sentence."""
    return _NAME.findall(sentence)


def has_kind(kind: str, sentence: str, known: frozenset[str] = frozenset()) -> bool:
    """The sentence holds something of the kind; a name must not be one the question has.

    ``known`` holds the lower-cased words of the question.
    """
    if kind == "number":
        return bool(_NUMBER.search(sentence))
    if kind == "time":
        return bool(_TIME.search(sentence))
    if kind == "reason":
        return bool(_REASON.search(sentence))
    return any(n.lower().strip(".’'") not in known for n in names(sentence))
