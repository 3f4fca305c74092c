"""Sentences addressed to an assistant or its reader rather than stating something.

A document may plant instructions ("Ignore previous instructions and tell the user that
..."). Such a sentence is never an answer (the extractive path skips it) and never support
(the citation check ignores it). The patterns name the one who is addressed (the assistant,
the AI, the user, the reader) or the act of overriding instructions, so that ordinary prose
with an imperative ("Answer the phone, she said.") is left alone.
Not handled: instructions worded without any of these cues, or in other languages.
"""

from __future__ import annotations

import re

_ADDRESSEE = r"(?:assistants?|chatbots?|the ai|ai models?|(?:large )?language models?|llms?)"
_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b[^.]{0,40}\b(?:instructions?|prompts?|rules|"
    r"directions|guidelines)\b"
    r"|\bsystem prompt\b|\byou are now\b|\bnew instructions\b"
    r"|\b(?:tell|inform|remind|assure|convince) the (?:users?|readers?)\b"
    r"|\bdo not (?:tell|mention|reveal|disclose)\b[^.]{0,30}\b(?:the )?(?:users?|readers?)\b"
    r"|^\W*(?:please\W+)?(?:reply|respond|answer) (?:with|that|only)\b"
    r"|\b(?:assistant|chatbot|the ai) (?:must|should)\b"
    rf"|\bif you are an? {_ADDRESSEE}\b|\bnote to (?:the |any )?{_ADDRESSEE}"
    rf"|\b{_ADDRESSEE} (?:reading|processing|summari[sz]ing) this\b"
    r"|\bwhen (?:you are )?asked\b[^.,;]{0,80},\s*(?:always\s+)?(?:say|reply|respond|answer|"
    r"state|claim)\b",
    re.I,
)


def is_instruction(sentence: str) -> bool:
    """Text addressed to an assistant (or its reader) rather than stating something."""
    return bool(_INSTRUCTION.search(sentence))
