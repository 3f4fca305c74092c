"""What kind of answer a question asks for, when a sentence can be checked for it cheaply.

Only quantities ("how many", "what share") and times ("when", "what year") are recognised:
a sentence without any number, or without any date or time word, rarely answers them.
Not handled: persons, places and the other kinds a named-entity tagger would need.
"""

from __future__ import annotations

import re

_WANTS_NUMBER = re.compile(
    r"\s*(?:how (?:many|much|long|old|far|big|large|tall|often|fast)|what (?:share|percentage|"
    r"percent|proportion|fraction|number|amount|price|cost|size)|at what (?:price|rate|age))\b",
    re.I,
)
_WANTS_TIME = re.compile(r"\s*(?:when|(?:in |on )?what (?:year|date|day|month|time))\b", re.I)
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


def answer_pattern(question: str) -> re.Pattern[str] | None:
    """A pattern every answering sentence should match, or None when any sentence might do."""
    if _WANTS_NUMBER.match(question):
        return _NUMBER
    if _WANTS_TIME.match(question):
        return _TIME
    return None
