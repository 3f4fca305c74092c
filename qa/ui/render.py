"""HTML of the page's dynamic parts: answers, source cards, the document list, reports.

Everything that comes from a document, a model or a user is escaped here (``esc``) before it
is placed in markup, and nothing else builds markup from such text: a planted ``<script>`` or
``<img onerror>`` shows as text. The chat also sanitizes what it shows (Gradio), the source
panel does not (``gr.HTML`` inserts it as it is), so escaping is the one defence that counts.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.manage import Listing
from ingest.pipeline import Report

from ..assistant import Message
from ..types import Answer, Citation, Passage

CONTEXT_CHARS = 280  # of surrounding text shown on each side of a quote
_MARKER = re.compile(r"\[(\d+)\]")


@dataclass
class Turn:
    """One question of a chat session and what came of it."""

    id: str  # unique; names the answer's feedback case
    question: str
    history: list[Message]  # the conversation before it, as the assistant was given it
    answer: Answer | None = None
    error: str = ""  # why there is no answer (a bad question, no index)


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def question_html(question: str) -> str:
    return f'<div class="qa-question">{esc(question)}</div>'


def pending_html(shown: str, status: str = "") -> str:
    """An answer still arriving: what the assistant is doing, its text so far and a cursor."""
    note = f'<p class="qa-status" role="status">⏳ {esc(status)}…</p>' if status else ""
    return (
        f'<div class="qa-answer qa-streaming">{note}{esc(shown)}'
        '<span class="qa-cursor" aria-label="answering">▍</span></div>'
    )


def error_html(message: str) -> str:
    return f'<div class="qa-answer"><p class="qa-notice qa-error">⚠️ {esc(message)}</p></div>'


def answer_html(turn: int, question: str, answer: Answer) -> str:
    """The answer with each ``[n]`` linking to its source card, unsupported sentences marked,
    and notes when it was rewritten, degraded or refused."""
    parts = [f'<div class="qa-answer" data-turn="{turn}" data-mode="{esc(answer.mode)}">']
    if answer.query and _squash(answer.query) != _squash(question):
        parts.append(f'<p class="qa-query">Searched for: “{esc(answer.query)}”</p>')
    if answer.notice:
        parts.append(f'<p class="qa-notice qa-degraded" role="status">⚠️ {esc(answer.notice)}</p>')
    if answer.refused:
        parts.append(f'<p class="qa-notice qa-refused" role="status">{esc(answer.text)}</p>')
    else:
        body, missed = _marked_text(turn, answer)
        parts.append(f'<p class="qa-text">{body}</p>')
        if answer.unsupported:
            note = "⚠️ No passage supports the marked sentences: nothing is cited for them."
            if missed:
                note += " Also unsupported: " + " ".join(f"“{esc(s)}”" for s in missed)
            parts.append(f'<p class="qa-notice qa-unsupported-note">{note}</p>')
    if answer.mode == "extractive":
        label = "quoted from the documents"
    else:
        label = f"written by {esc(answer.model or 'the LLM')}"
    n, searched = len(answer.citations), len(answer.passages)
    if not answer.refused:
        label += f" · {n} source{'' if n == 1 else 's'}"
    parts.append(f'<p class="qa-meta">{label} · {searched} passages searched</p></div>')
    return "".join(parts)


def _squash(text: str) -> str:
    return " ".join(text.lower().split())


def _marked_text(turn: int, answer: Answer) -> tuple[str, list[str]]:
    """The answer's HTML, and the unsupported sentences it could not find to mark (the
    answer holds each verbatim, without markers, in order)."""
    text = answer.text
    out, pos, missing = [], 0, []
    for said in answer.unsupported:
        at = text.find(said, pos)
        if at < 0:
            missing.append(said)
            continue
        out.append(_linked(turn, text[pos:at], answer.citations))
        out.append(
            '<span class="qa-unsupported" title="No cited passage supports this sentence">'
            f"⚠️ {esc(said)}</span>"
        )
        pos = at + len(said)
    out.append(_linked(turn, text[pos:], answer.citations))
    return "".join(out), missing


def _linked(turn: int, text: str, citations: Sequence[Citation]) -> str:
    """Escaped text whose markers of known citations link to their cards."""
    known = {c.n for c in citations}

    def link(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if n not in known:
            return m.group(0)
        return f'<a class="qa-cite" href="#{card_id(turn, n)}" title="source {n}">[{n}]</a>'

    return _MARKER.sub(link, esc(text))


def card_id(turn: int, n: int) -> str:
    return f"qa-src-{turn}-{n}"


def surrounding(
    citation: Citation, passages: Sequence[Passage], chars: int = CONTEXT_CHARS
) -> tuple[str, str, str]:
    """(text before, quote, text after): the quote inside the passage it was taken from,
    cut at word boundaries about ``chars`` characters either side ("…" where cut)."""
    for p in passages:
        if (
            p.source == citation.source
            and p.page == citation.page
            and p.start <= citation.start
            and citation.end <= p.end
            and p.text[citation.start - p.start : citation.end - p.start] == citation.quote
        ):
            a, b = citation.start - p.start, citation.end - p.start
            before, after = p.text[:a], p.text[b:]
            if len(before) > chars:
                cut = before[-chars:]
                before = "…" + cut[cut.find(" ") + 1 :] if " " in cut else "…" + cut
            if len(after) > chars:
                cut = after[:chars]
                after = (cut[: cut.rfind(" ")] if " " in cut else cut) + "…"
            return before, citation.quote, after
    return "", citation.quote, ""


def sources_html(turns: Sequence[Turn]) -> str:
    """The source panel: the cards of every answer, the newest first."""
    groups = []
    for number, turn in reversed(list(enumerate(turns, 1))):
        if turn.answer is None or not turn.answer.citations:
            continue
        cards = "".join(_card(number, c, turn.answer.passages) for c in turn.answer.citations)
        groups.append(
            f'<section class="qa-sources-of" data-turn="{number}">'
            f'<h3 class="qa-sources-question">{esc(turn.question)}</h3>{cards}</section>'
        )
    if not groups:
        return (
            '<div class="qa-sources qa-empty"><p>Sources appear here: each [n] of an answer '
            "links to its card.</p></div>"
        )
    return '<div class="qa-sources">' + "".join(groups) + "</div>"


def found_html(turns: Sequence[Turn], question: str, passages: Sequence[Passage]) -> str:
    """The source panel while an answer is being written: the passages it draws on first
    (the answer's own cards replace them), then the earlier answers' cards."""
    cards = "".join(
        f'<article class="qa-source qa-found"><header><span class="qa-doc">{esc(p.title)}'
        f'</span></header><p class="qa-where">{esc(p.source)}'
        f"{f' · p. {p.page}' if p.page is not None else ''}</p>"
        f'<p class="qa-context">{esc(_clipped(p.text))}</p></article>'
        for p in passages
    )
    found = (
        f'<section class="qa-sources-of qa-pending"><h3 class="qa-sources-question">'
        f'{esc(question)}</h3><p class="qa-notice">Found {len(passages)} passages; the '
        f"answer is being written from them.</p>{cards}</section>"
    )
    earlier = sources_html(turns)
    if "qa-empty" in earlier:
        return f'<div class="qa-sources">{found}</div>'
    return earlier.replace('<div class="qa-sources">', f'<div class="qa-sources">{found}', 1)


def _clipped(text: str, chars: int = 400) -> str:
    return text if len(text) <= chars else text[: chars - 1].rstrip() + "…"


def _card(turn: int, c: Citation, passages: Sequence[Passage]) -> str:
    before, quote, after = surrounding(c, passages)
    where = esc(c.source) + (f" · p. {c.page}" if c.page is not None else "")
    title = c.title if c.title and c.title != c.source else ""
    return (
        f'<article class="qa-source" id="{card_id(turn, c.n)}" data-n="{c.n}">'
        f'<header><span class="qa-n">[{c.n}]</span> '
        f'<span class="qa-doc">{esc(title or c.source)}</span></header>'
        f'<p class="qa-where">{where}</p>'
        f'<p class="qa-context">{esc(before)}<mark>{esc(quote)}</mark>{esc(after)}</p>'
        "</article>"
    )


def documents_html(listing: Listing | None, problem: str = "") -> str:
    """The indexed documents with their chunk counts (or why there are none)."""
    if listing is None:
        return f'<div class="qa-documents"><p class="qa-notice">{esc(problem)}</p></div>'
    if not listing.documents:
        return '<div class="qa-documents"><p>No documents yet: upload some above.</p></div>'
    rows = "".join(
        f"<tr><td>{esc(d.source)}</td><td>{esc(d.title)}</td>"
        f'<td class="qa-num">{d.chunks}</td><td>{_when(d.ingested_at)}</td></tr>'
        for d in listing.documents
    )
    incomplete = ""
    if listing.incomplete:
        names = ", ".join(esc(s) for s in listing.incomplete)
        incomplete = (
            f'<p class="qa-notice">Interrupted before they were finished: {names} '
            "(the next upload or ingestion completes them).</p>"
        )
    return (
        f'<div class="qa-documents"><p>{len(listing.documents)} documents, '
        f"{listing.chunks} chunks.</p>"
        '<table><thead><tr><th>document</th><th>title</th><th class="qa-num">chunks</th>'
        f"<th>ingested</th></tr></thead><tbody>{rows}</tbody></table>{incomplete}</div>"
    )


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def ingest_html(report: Report | None, failed: Sequence[tuple[str, str]], problem: str = "") -> str:
    """What an upload did: one line of counts, then every file that failed with its reason."""
    lines = []
    if problem:
        lines.append(f'<p class="qa-notice qa-error">⚠️ {esc(problem)}</p>')
    if report is not None:
        done = [
            f"{len(names)} {label}"
            for names, label in (
                (report.added, "added"),
                (report.updated, "updated"),
                (report.unchanged, "unchanged"),
            )
            if names
        ]
        if done:
            lines.append(
                f'<p class="qa-ok">{esc(", ".join(done))} '
                f"({report.chunks_embedded} chunks embedded, {report.seconds:.1f} s)</p>"
            )
    if failed:
        items = "".join(f"<li><b>{esc(name)}</b>: {esc(reason)}</li>" for name, reason in failed)
        lines.append(f'<div class="qa-failed"><p>Not added:</p><ul>{items}</ul></div>')
    return '<div class="qa-report">' + "".join(lines) + "</div>"
