"""An answer written by the model: a turn at it, the passages, the reply, and its check.

The flow: wait for a turn at the model (the local one answers one question at a time; the
wait and the loading show as ``Status``), rewrite a follow-up into a question that stands on
its own, find the passages, stream the reply with its markers numbered as they will be, then
check every sentence against the passages it cites (``grounding``). Whatever keeps the model
from answering within ``QA_LLM_TIMEOUT`` (queue, loading, faults, an empty reply) ends in the
answer quoted from the documents, with a notice saying why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Protocol

from langchain_core.language_models import BaseChatModel

from . import grounding, llm
from .citecheck import SentenceVectors
from .claims import LiveMarkers
from .conversation import Message
from .extractive import REFUSAL_TEXT
from .faults import Deadline, LLMUnavailable, lost_connection, within_deadline
from .settings import Settings
from .trim import trimmed
from .types import Answer, Citation, Passage, Status

FALLBACK_NOTICE = "The LLM could not answer ({}); this answer is quoted from the documents."
GATED_NOTICE = "No passage answers this closely enough, so the model was not asked."

Search = Callable[[str], list[Passage]]  # the question as searched -> the passages


class Quote(Protocol):
    """The answer quoted from the documents: for ``query``, with ``notice``, from the
    passages found for it (or these), refusing below ``refusal``, in at most ``sentences``
    (defaults: the settings)."""

    def __call__(
        self,
        query: str,
        notice: str,
        passages: list[Passage] | None,
        refusal: float | None = None,
        sentences: int | None = None,
    ) -> Answer: ...


@dataclass
class Parts:
    """What an answer written by the model needs from the assistant."""

    llm: llm.LLM
    settings: Settings
    search: Search
    quote: Quote
    vectors: SentenceVectors


def answer(
    parts: Parts, question: str, turns: list[Message], fallback_query: str, streaming: bool
) -> Iterator[Status | str | Answer]:
    """Status while waiting, the reply's text as it comes, then the ``Answer``.

    ``fallback_query`` is what the quoted answer searches for when the model cannot rewrite
    a follow-up.
    """
    deadline = Deadline(parts.settings.llm_timeout)
    local = parts.llm.local
    admitted = False
    searched = None
    if not turns:  # a question that needs no rewriting is judged before it waits for the model
        searched = _searched(parts, question)
        if searched[1] is not None:
            yield from _shown(searched[1])
            return
    try:
        try:
            if local is not None:
                for ahead in local.queue.wait(deadline):
                    if ahead:
                        plural = "s" if ahead > 1 else ""
                        yield Status(
                            f"Waiting for the model: {ahead} question{plural} ahead", ahead
                        )
                admitted = True
                if not local.server.is_ready:
                    yield Status("Loading the model")
                local.server.ready(deadline.remaining())
            query = _condense(parts, question, turns, deadline) if turns else question
        except LLMUnavailable as err:
            yield from _quoted(parts, fallback_query, _notice(parts, err), None)
            return
        yield from _write(parts, query, deadline, streaming, searched)
    finally:
        if admitted and local is not None:
            local.queue.leave()


def _write(
    parts: Parts,
    query: str,
    deadline: Deadline,
    streaming: bool,
    searched: tuple[list[Passage], Answer | None] | None,
) -> Iterator[str | Answer]:
    passages, refusal = searched or _searched(parts, query)
    if not passages:
        yield from _quoted(parts, query, "", passages)
        return
    if refusal is not None:
        yield from _shown(refusal)
        return
    said: list[str] = []  # all the model said, including what is held back
    live = LiveMarkers(len(passages))
    try:
        for piece in _hold_refusal(
            _recorded(_generate(parts, query, passages, deadline, streaming), said)
        ):
            if shown := live.feed(piece):
                yield shown
        if rest := live.flush():
            yield rest
    except LLMUnavailable as err:
        yield parts.quote(query, _notice(parts, err), passages)
        return
    reply = "".join(said)
    if not reply.strip():
        yield parts.quote(query, FALLBACK_NOTICE.format("its reply was empty"), passages)
        return
    checked = grounding.check(reply, passages, parts.vectors, parts.settings, query)
    if checked.quote_instead:
        yield replace(_instead(parts, query, checked, passages), reply=reply)
        return
    yield Answer(
        text=checked.text,
        citations=checked.citations,
        refused=checked.refused,
        mode="llm",
        model=parts.llm.name,
        query=query,
        passages=passages,
        unsupported=checked.unsupported,
        reply=reply,
    )


def _instead(
    parts: Parts, query: str, checked: grounding.Grounded, passages: list[Passage]
) -> Answer:
    """The quoted answer shown instead of the model's unsupported one, or a refusal.

    After the model failed to ground an answer, a quote is less likely to answer: on CLAP NQ
    fold 1 replies, refusing quotes whose best sentence is below ``llm_unsupported_refusal``
    refused 2 more of 31 unanswerable questions for 3 more of 40 answerable ones; on folds
    2-4 (not fitted on), 11 of 92 for 1 of 96 (docs/calibration.md). Unless the model's
    answer was looking at the quote's best sentence (``_near``): then that sentence alone is
    quoted, however unlikely, down to the gate's bar.
    """
    settings = parts.settings
    quoted = parts.quote(query, checked.quote_instead, passages)
    if not quoted.refused and _best(quoted) >= settings.llm_unsupported_refusal:
        return quoted
    if near := _near(checked.near_misses, settings.llm_near_miss):
        floor = settings.llm_gate_threshold
        best = parts.quote(query, checked.quote_instead, passages, floor, 1)
        if best.citations and _overlaps(best.citations[0], near):
            return best
    return replace(  # refused by the quote itself or by the bar: nothing is quoted
        quoted, text=REFUSAL_TEXT, citations=[], refused=True, notice=checked.refused_notice
    )


def _near(misses: list[Citation], bar: float) -> list[Citation]:
    """The passage text that best supports an unsupported sentence of the model's, where
    that support is at least ``bar`` (below the check's threshold).

    A paraphrase the check cannot follow ("CSIS stands for Center for Strategic and
    International Studies" of "“…,” the Center for Strategic and International Studies (CSIS)
    noted": 0.546) points at the sentence that answers; the quote, found for the question by
    other means, agreeing with it is what makes it an answer. Fitted on CLAP NQ fold 1 and the
    paraphrased fit set, where questions in readers' words made most of the quotes fall
    below ``llm_unsupported_refusal`` (docs/calibration.md).
    """
    return [c for c in misses if c.score >= bar]


def _overlaps(citation: Citation, near: list[Citation]) -> bool:
    return any(
        (n.source, n.page) == (citation.source, citation.page)
        and n.start < citation.end
        and citation.start < n.end
        for n in near
    )


def _best(answer: Answer) -> float:
    return max((c.score or 0.0 for c in answer.citations), default=0.0)


def _searched(parts: Parts, query: str) -> tuple[list[Passage], Answer | None]:
    """The passages for ``query``, and the refusal that answers it instead of the model."""
    passages = parts.search(query)
    return passages, (_gated(parts, query, passages) if passages else None)


def _gated(parts: Parts, query: str, passages: list[Passage]) -> Answer | None:
    """A refusal when no passage sentence is even ``llm_gate_threshold`` likely to answer:
    then the model is not asked (~10 ms instead of ~15 s).

    The bar is far below the extractive refusal threshold. At that threshold the gate refused
    11 of 30 answerable questions about the seed article written by someone else, in their
    own words ("What's standing in the way of implementing these deals quickly?": 0.037),
    which the model answers; on CLAP NQ it had looked right (docs/calibration.md). Below the
    bar are questions on nothing the documents discuss.
    """
    if not parts.settings.llm_refusal_gate:
        return None
    bar = parts.settings.llm_gate_threshold
    quoted = parts.quote(query, GATED_NOTICE, passages, bar)
    return quoted if quoted.refused else None


def _notice(parts: Parts, err: LLMUnavailable) -> str:
    reason = err.reason
    local = parts.llm.local
    # A dropped connection may be the model's process dying: give it a moment to be reaped.
    wait = 1.0 if lost_connection(err.__cause__) else 0.0
    if local is not None and (gone := local.server.describe_exit(wait)):
        reason = gone  # "its server could not be reached" says less than why it is gone
    return FALLBACK_NOTICE.format(reason)


def _quoted(
    parts: Parts, query: str, notice: str, passages: list[Passage] | None
) -> Iterator[str | Answer]:
    yield from _shown(parts.quote(query, notice, passages))


def _shown(answer: Answer) -> Iterator[str | Answer]:
    """An answer that was not streamed: its text as one piece, then the answer."""
    yield answer.text
    yield answer


def _condense(parts: Parts, question: str, turns: list[Message], deadline: Deadline) -> str:
    """The follow-up rewritten by the model into a question that stands on its own."""
    settings = parts.settings
    messages = llm.condense_messages(question, turns, settings.prompts_dir)
    model = parts.llm.chat_model

    def call(timeout: float) -> Iterator[str]:
        return llm.text_stream(llm.with_timeout(model, timeout), messages)

    reply = "".join(within_deadline(call, deadline, _retries(parts)))
    return llm.standalone_from_reply(reply, question, settings.max_question_chars)


def _generate(
    parts: Parts, query: str, passages: list[Passage], deadline: Deadline, streaming: bool
) -> Iterator[str]:
    """The model's answer, in pieces; ``LLMUnavailable`` when it gives none in time."""
    # Rendered here, not in the worker: a broken prompt file is an error, not a fault.
    texts = trimmed(query, passages, parts.vectors, parts.settings.llm_passage_chars)
    messages = llm.answer_messages(query, passages, parts.settings.prompts_dir, texts)
    model: BaseChatModel = parts.llm.chat_model

    def call(timeout: float) -> Iterator[str]:
        bound = llm.with_timeout(model, timeout)
        # subtle: a local model always streams, even for ask(): a stream left early is closed,
        # and the server stops writing; an abandoned non-streamed call would run to its end.
        if streaming or parts.llm.local is not None:
            return llm.text_stream(bound, messages)
        return iter([llm.text_chain(bound).invoke(messages)])

    return within_deadline(call, deadline, _retries(parts))


def _retries(parts: Parts) -> int:
    """None for the local model: its faults are not passing ones (a dead process is reported,
    and restarted for the next question, rather than waited for)."""
    return 0 if parts.llm.local is not None else parts.settings.llm_max_retries


def _recorded(pieces: Iterator[str], into: list[str]) -> Iterator[str]:
    for piece in pieces:
        into.append(piece)
        yield piece


def _hold_refusal(pieces: Iterator[str]) -> Iterator[str]:
    """The pieces, but none while they could still spell NOT_IN_DOCUMENTS (never shown)."""
    held: str | None = ""
    for piece in pieces:
        if held is None:
            yield piece
            continue
        held += piece
        if not llm.NOT_IN_DOCUMENTS.startswith(held.strip().upper().replace(" ", "_")):
            yield held
            held = None  # the reply is something else: pass everything through
