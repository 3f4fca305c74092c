"""One question through the answer path, top to bottom. Each step is a function over data:

1. ``parse``    the question, once (``Asked``): yes-or-no, and whether it leans on the
                conversation (decided without the model, ``conversation.leans_on``)
2. ``condense`` a follow-up that leans on the conversation, rewritten by the model; kept only
                when it is a question holding the follow-up's own words
3. ``retrieve`` the passages and their evidence table (qa/evidence.py: one extractive pass);
                the caller sees the passages at once (``Retrieved``)
4. ``gate``     no row even ``llm_gate_threshold`` likely to answer: refused, the model unasked
5. ``write``    the model's reply (qa/reply.py), streamed, in the grammar's form
6. ``check``    each sentence against the rows it cites, or where it is found (qa/support.py)
7. ``decide``   the model's answer with its citations; the answer quoted from the table
                when the reply was invalid, nothing in it is supported, or the rows it cites
                are unlikely to answer (``llm_cited_threshold``, fitted); or a refusal

Whatever keeps the model from answering within ``QA_LLM_TIMEOUT`` (its queue, loading, faults,
an empty reply) ends in the quoted answer, with a notice saying why. The local model answers
one question at a time: the wait and the loading show as ``Status``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from . import extractive, llm, reply, support
from .answer_types import asks_yes_or_no
from .conversation import accepted_rewrite, leans_on
from .evidence import Evidence, SentenceVectors, build
from .extractive_model import Model
from .faults import Deadline, LLMUnavailable, lost_connection, within_deadline
from .questions import Message
from .settings import Settings
from .types import Answer, Citation, Passage, Retrieved, Status

FALLBACK_NOTICE = "The LLM could not answer ({}); this answer is quoted from the documents."
GATED_NOTICE = "No passage answers this closely enough, so the model was not asked."
INVALID_NOTICE = "its reply was not in the form asked for"
# Why the model's answer is not shown (its sentences follow); then what is shown instead.
UNSUPPORTED = "The model's answer is not supported by the documents ({})"
UNLIKELY = "The model's answer cites no sentence likely to answer the question ({})"
INSTEAD = ("; this answer is quoted from the documents.", ", nor is any quote likely to answer.")
_SHOWN_CHARS = 200  # of the model's unsupported answer, in the notice


@dataclass(frozen=True)
class Parts:
    """What an answer needs: the model, the search, and the fitted scorers."""

    llm: llm.LLM | None
    settings: Settings
    search: Callable[[str], list[Passage]]  # the question as searched -> the passages
    vectors: SentenceVectors
    extractive: Model  # the probability that a row answers
    scorer: Model  # the probability that cited rows support a sentence
    notice: str = ""  # carried by a quoted answer given for want of a model


@dataclass(frozen=True)
class Asked:
    question: str
    turns: list[Message]
    yes_no: bool
    leans: bool  # on the conversation: the model rewrites it before the search


def parse(question: str, turns: Sequence[Message]) -> Asked:
    return Asked(question, list(turns), asks_yes_or_no(question), leans_on(question, turns))


def answer(
    parts: Parts, asked: Asked, query: str, streaming: bool
) -> Iterator[Status | Retrieved | str | Answer]:
    """Statuses, the passages, the reply's text as it comes, then the ``Answer``.

    ``query`` is what is searched when the model does not rewrite the question: a question
    that leans on nothing, or one asked without a model or when the model fails
    (``conversation.standalone_question``). A rejected rewrite searches the question as asked.
    """
    model = parts.llm
    evidence: Evidence | None = None
    if model is None:
        evidence = retrieve(parts, query)
        yield Retrieved(evidence.passages, query)
        yield from _shown(quote(parts, evidence, parts.notice))
        return
    deadline = Deadline(parts.settings.llm_timeout)
    if not asked.leans:  # judged before it waits for the model
        evidence = retrieve(parts, query)
        yield Retrieved(evidence.passages, query)
        if (gated := gate(parts, evidence)) is not None:
            yield from _shown(gated)
            return
    local = model.local
    admitted = False
    try:
        try:
            if local is not None:
                for ahead in local.queue.wait(deadline):
                    if ahead:
                        yield _waiting(ahead)
                admitted = True
                if not local.server.is_ready:
                    yield Status("Loading the model")
                local.server.ready(deadline.remaining())
            if evidence is None:
                query = condense(parts, model, asked, deadline) or asked.question
                evidence = retrieve(parts, query)
                yield Retrieved(evidence.passages, query)
                if (gated := gate(parts, evidence)) is not None:
                    yield from _shown(gated)
                    return
        except LLMUnavailable as err:
            found = evidence or retrieve(parts, query)
            yield from _shown(quote(parts, found, _notice(model, err)))
            return
        yield from _write_and_decide(parts, model, asked, evidence, deadline, streaming)
    finally:
        if admitted and local is not None:
            local.queue.leave()


def retrieve(parts: Parts, query: str) -> Evidence:
    budget = parts.settings.llm_evidence_chars
    return build(query, parts.search(query), parts.extractive, budget)


def gate(parts: Parts, evidence: Evidence) -> Answer | None:
    """A refusal when nothing was found, or no row is even ``llm_gate_threshold`` likely to
    answer: then the model is not asked (~10 ms instead of ~10 s), on questions about nothing
    the documents discuss."""
    settings = parts.settings
    if not evidence.shown:
        return refusal(evidence, "")
    if settings.llm_refusal_gate and evidence.best < settings.llm_gate_threshold:
        return refusal(evidence, GATED_NOTICE)
    return None


def _write_and_decide(
    parts: Parts,
    model: llm.LLM,
    asked: Asked,
    evidence: Evidence,
    deadline: Deadline,
    streaming: bool,
) -> Iterator[str | Answer]:
    said: list[str] = []
    try:
        yield from _visible(write(parts, model, asked, evidence, deadline, streaming), said)
    except LLMUnavailable as err:
        yield quote(parts, evidence, _notice(model, err))
        return
    text = "".join(said)
    if not text.strip():
        yield quote(parts, evidence, FALLBACK_NOTICE.format("its reply was empty"))
        return
    read = reply.parse(text, len(evidence.shown), asked.yes_no)
    checked = support.check(read.claims, evidence, parts.vectors, parts.scorer) if read else []
    yield decide(parts, model, evidence, text, read, checked)


def write(
    parts: Parts,
    model: llm.LLM,
    asked: Asked,
    evidence: Evidence,
    deadline: Deadline,
    streaming: bool,
) -> Iterator[str]:
    """The model's reply in pieces; ``LLMUnavailable`` when it gives none in time."""
    # Rendered here, not in the worker: a broken prompt file is an error, not a fault.
    messages = reply.messages(evidence, asked.yes_no, parts.settings.prompts_dir)
    grammar = reply.grammar(len(evidence.shown), asked.yes_no) if model.grammar else None
    chat = llm.constrained(model.chat_model, grammar)

    def call(timeout: float) -> Iterator[str]:
        bound = llm.with_timeout(chat, timeout)
        # subtle: a local model always streams, even for ask(): a stream left early is closed,
        # and the server stops writing; an abandoned non-streamed call would run to its end.
        if streaming or model.local is not None:
            return llm.text_stream(bound, messages)
        return iter([llm.text_chain(bound).invoke(messages)])

    return within_deadline(call, deadline, _retries(parts, model))


def decide(
    parts: Parts,
    model: llm.LLM,
    evidence: Evidence,
    text: str,
    read: reply.Reply | None,
    checked: Sequence[support.Checked],
) -> Answer:
    """What to show of the model's reply: it, with its citations; the quote; or a refusal."""
    if read is None:
        found = quote(parts, evidence, FALLBACK_NOTICE.format(INVALID_NOTICE))
        return _with_reply(found, text)
    if read.refused:
        refused = refusal(evidence, "")
        refused.mode, refused.model = "llm", model.name
        return _with_reply(refused, text)
    cited = max((r.probability for c in checked for r in c.rows), default=-1.0)
    if cited < parts.settings.llm_cited_threshold:
        said = " ".join(c.claim.text for c in checked)
        if len(said) > _SHOWN_CHARS:
            said = said[: _SHOWN_CHARS - 1].rstrip() + "…"
        why = (UNSUPPORTED if cited < 0 else UNLIKELY).format(f"“{said}”")
        found = quote(parts, evidence, why + INSTEAD[0])
        if found.refused:
            found.notice = why + INSTEAD[1]
        return _with_reply(found, text)
    body, citations = compose(read.verdict, checked)
    return Answer(
        text=body,
        citations=citations,
        refused=False,
        mode="llm",
        model=model.name,
        query=evidence.question,
        passages=evidence.passages,
        unsupported=[c.claim.text for c in checked if not c.rows],
        reply=text,
        verdict=read.verdict,
    )


def compose(verdict: str, checked: Sequence[support.Checked]) -> tuple[str, list[Citation]]:
    """The answer's text, its verdict first, each supported sentence followed by the markers
    of its rows (numbered in order of appearance), and the citations: the rows' exact spans."""
    numbers: dict[int, int] = {}  # id(row) -> citation number
    citations: list[Citation] = []
    sentences = [f"{verdict}."] if verdict else []
    for c in checked:
        marks = ""
        for row in c.rows:
            if id(row) not in numbers:
                numbers[id(row)] = len(citations) + 1
                citations.append(row.citation(numbers[id(row)], c.score))
            marks += f"[{numbers[id(row)]}]"
        sentences.append(_with_markers(c.claim.text, marks))
    return " ".join(sentences), citations


def _with_markers(sentence: str, marks: str) -> str:
    """``sentence`` with ``marks`` before its final stop, if any."""
    if not marks:
        return sentence
    body = sentence.rstrip()
    stop = body[-1] if body and body[-1] in ".!?" else ""
    return f"{body.removesuffix(stop).rstrip()} {marks}{stop}"


def quote(parts: Parts, evidence: Evidence, notice: str) -> Answer:
    """The answer quoted from the table (a refusal below the extractive threshold)."""
    settings = parts.settings
    return extractive.answer(
        evidence,
        parts.extractive,
        max_sentences=settings.max_answer_sentences,
        refusal=settings.refusal_threshold,
        notice=notice,
    )


def refusal(evidence: Evidence, notice: str) -> Answer:
    return Answer(
        extractive.REFUSAL_TEXT, [], True, "extractive", notice,
        query=evidence.question, passages=evidence.passages,
    )  # fmt: skip


def condense(parts: Parts, model: llm.LLM, asked: Asked, deadline: Deadline) -> str | None:
    """The follow-up rewritten by the model, when the rewrite is a question that keeps the
    follow-up's own words; else None (the question is searched as the caller has it)."""
    messages = llm.condense_messages(asked.question, asked.turns, parts.settings.prompts_dir)

    def call(timeout: float) -> Iterator[str]:
        return llm.text_stream(llm.with_timeout(model.chat_model, timeout), messages)

    rewrite = "".join(within_deadline(call, deadline, _retries(parts, model)))
    return accepted_rewrite(rewrite, asked.question, parts.settings.max_question_chars)


def _waiting(ahead: int) -> Status:
    plural = "s" if ahead > 1 else ""
    return Status(f"Waiting for the model: {ahead} question{plural} ahead", ahead)


def _visible(pieces: Iterator[str], said: list[str]) -> Iterator[str]:
    """The reply as the reader sees it while it streams (``reply.shown``: no evidence ids),
    recorded whole in ``said``; nothing while it could still be NOT_IN_DOCUMENTS, which is
    never shown, and no text that may still turn out to precede a marker."""
    held = ""
    for piece in pieces:
        said.append(piece)
        held += piece
        if reply.may_refuse("".join(said)):
            continue
        cut = reply.settled(held)
        if visible := reply.shown(held[:cut]):
            yield visible
        held = held[cut:]
    if held and not reply.may_refuse("".join(said)) and (rest := reply.shown(held)):
        yield rest


def _with_reply(answer: Answer, text: str) -> Answer:
    answer.reply = text
    return answer


def _notice(model: llm.LLM, err: LLMUnavailable) -> str:
    reason = err.reason
    # A dropped connection may be the model's process dying: give it a moment to be reaped.
    wait = 1.0 if lost_connection(err.__cause__) else 0.0
    if model.local is not None and (gone := model.local.server.describe_exit(wait)):
        reason = gone  # "its server could not be reached" says less than why it is gone
    return FALLBACK_NOTICE.format(reason)


def _retries(parts: Parts, model: llm.LLM) -> int:
    """None for the local model: its faults are not passing ones (a dead process is reported,
    and restarted for the next question, rather than waited for)."""
    return 0 if model.local is not None else parts.settings.llm_max_retries


def _shown(answer: Answer) -> Iterator[str | Answer]:
    """An answer that was not streamed: its text as one piece, then the answer."""
    yield answer.text
    yield answer
