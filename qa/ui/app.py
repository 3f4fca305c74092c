"""The page: Chat, Documents and Settings tabs over one ``Assistant``, and the ``/ask`` API.

Layout and wiring only; answering is the assistant's, ingestion ``ingest``'s, and what is
shown is rendered (and escaped) by ``render``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
from starlette.middleware import Middleware

from ingest.errors import IndexMismatchError, IndexNotFoundError
from ingest.formats import SUPPORTED_SUFFIXES

from ..assistant import Assistant
from ..feedback import FEEDBACK_FILE, FeedbackLog
from ..settings import ANSWER_MODES, TOP_K_MAX, Settings
from . import chat
from .access import check_exposure, credentials
from .api import make_ask
from .documents import Documents
from .render import Turn, sources_html
from .throttle import LoginThrottle
from .uploads import SERVER_UPLOAD_FACTOR

EXAMPLES = [
    "What share of global rare earth processing does China control?",
    "Which countries signed rare earth agreements with the U.S.?",
    "How large is Australia's cooperation deal on mineral processing?",
    "Which company is the largest rare earth supplier outside China?",
]
TITLE = "Ask your documents"
_MODE_INFO = (
    "auto: the language model (the configured endpoint's, else the local one), else quotes; "
    "extractive: quotes only, at once; llm: the model (falls back to quotes, with a notice, "
    "when it cannot answer in time)"
)
# System fonts: the default theme would fetch its fonts from Google, and the page must work
# offline (and tell no one who opens it).
_SANS = ["ui-sans-serif", "system-ui", "Segoe UI", "Helvetica", "Arial", "sans-serif"]
_MONO = ["ui-monospace", "SFMono-Regular", "Consolas", "monospace"]
_DELETE_CACHE = (3600, 3600)  # (every, older than) seconds


def build(assistant: Assistant, feedback: FeedbackLog | None = None) -> gr.Blocks:
    settings = assistant.settings
    feedback = feedback or FeedbackLog(Path(settings.index_dir) / FEEDBACK_FILE)
    documents = Documents(assistant)

    # Gradio keeps every file posted to its upload route; the page's uploads are moved away
    # at once (documents.py), and this clears any other (posted without the page) in an hour.
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=_DELETE_CACHE) as demo:
        turns = gr.State([])
        asking = gr.State("")  # the question being answered, for the stop button
        gr.Markdown(
            f"## {TITLE}\nEvery answer quotes the passages it comes from: each [n] links to "
            "its source."
        )
        with gr.Tab("Chat", id="chat"), gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Chat",
                    elem_id="qa-chat",
                    height=560,
                    render_markdown=False,  # answers arrive as escaped HTML (render.py)
                    sanitize_html=True,
                    allow_tags=False,
                    latex_delimiters=[],  # "$14 billion ... $5" is money, not math
                    buttons=[],  # no "share": it would post to Hugging Face
                    feedback_options=("Like", "Dislike"),
                    placeholder="Ask about the indexed documents.",
                )
                with gr.Row():
                    question = gr.Textbox(
                        show_label=False,
                        placeholder="Ask a question about the documents",
                        elem_id="qa-question",
                        scale=5,
                        autofocus=True,
                    )
                    ask = gr.Button("Ask", variant="primary", elem_id="qa-ask", scale=1)
                    stop = gr.Button("Stop", variant="stop", elem_id="qa-stop", scale=1)
                with gr.Row():
                    gr.Examples(EXAMPLES, inputs=question, label="Examples")
                clear = gr.Button("Clear chat", elem_id="qa-clear", size="sm")
            with gr.Column(scale=2):
                gr.Markdown("**Sources**")
                sources = gr.HTML(sources_html([]), elem_id="qa-sources", js_on_load=None)
        with gr.Tab("Documents", id="documents") as documents_tab:
            # No file_types: Gradio would drop a file of another type from the selection
            # with only a pop-up; each file is checked here and refused with its reason.
            upload = gr.File(
                label=f"Add documents ({', '.join(sorted(SUPPORTED_SUFFIXES))}; up to "
                f"{settings.max_upload_mb:g} MB each)",
                file_count="multiple",
                type="filepath",
                elem_id="qa-upload",
            )
            report = gr.HTML(elem_id="qa-report", js_on_load=None)
            listing = gr.HTML(elem_id="qa-documents", js_on_load=None)
            with gr.Row():
                pick = gr.Dropdown(label="Document", choices=[], elem_id="qa-pick", scale=3)
                delete = gr.Button("Delete", variant="stop", elem_id="qa-delete", scale=1)
        with gr.Tab("Settings", id="settings"):
            mode = gr.Radio(
                list(ANSWER_MODES),
                value=settings.answer_mode,
                label="Answer mode",
                info=_MODE_INFO,
                elem_id="qa-mode",
            )
            passages = gr.Slider(
                1,
                max(20, min(settings.top_k, TOP_K_MAX)),
                value=settings.top_k,
                step=1,
                label="Passages an answer draws on",
                elem_id="qa-passages",
            )

        stops = chat.Stops()

        def respond(
            question: str, turns: list[Turn], mode: str, passages: float, request: gr.Request
        ) -> Iterator[chat.Update]:
            session = request.session_hash or ""
            flag = stops.start(session)
            try:
                yield from chat.respond(assistant, question, turns, mode, passages, flag)
            finally:
                stops.end(session, flag)

        def stopped(turns: list[Turn], asking: str, request: gr.Request) -> chat.Update:
            stops.stop(request.session_hash or "")
            return chat.stopped(turns, asking)

        answer_event: dict[str, Any] = {
            "fn": respond,
            "inputs": [question, turns, mode, passages],
            "outputs": [chatbot, sources, turns, question, asking],
            "api_visibility": "private",
            "concurrency_id": "answer",
            "concurrency_limit": settings.concurrency,
        }
        # Dependency is the dict Gradio's annotation asks for (it subclasses dict).
        answering: list[dict[str, Any]] = [
            question.submit(**answer_event),
            ask.click(**answer_event),
        ]
        stop.click(
            stopped,
            inputs=[turns, asking],
            outputs=[chatbot, sources, turns, question, asking],
            cancels=answering,
            api_visibility="private",
            queue=False,
        )
        clearing: dict[str, Any] = {
            "outputs": [chatbot, sources, turns, question, asking],
            "api_visibility": "private",
            "queue": False,
        }
        clear.click(chat.clear, **clearing)
        chatbot.clear(chat.clear, **clearing)  # the chat's own bin icon

        def rate(turns: list[Turn], data: gr.LikeData) -> None:
            chat.rate(feedback, turns, data)

        chatbot.like(
            rate,
            inputs=turns,
            api_visibility="private",
            # Every click counts, in order: a quick up-then-down is a down, never dropped
            # (trigger_mode "once" would ignore the second click while the first runs).
            trigger_mode="multiple",
            concurrency_id="feedback",
            concurrency_limit=1,
        )

        # Gradio finds the progress bar by its default value.
        def upload_files(
            files: list[str] | None,
            progress: gr.Progress = gr.Progress(),  # noqa: B008
        ) -> tuple[str, str, Any, None]:
            return documents.upload(files, progress)

        writing: dict[str, Any] = {
            "api_visibility": "private",
            "concurrency_id": "index-writer",  # one ingestion or deletion at a time
            "concurrency_limit": 1,
        }
        upload.upload(
            upload_files, inputs=upload, outputs=[report, listing, pick, upload], **writing
        )
        delete.click(documents.delete, inputs=pick, outputs=[report, listing, pick], **writing)
        refresh: dict[str, Any] = {"outputs": [listing, pick], "api_visibility": "private"}
        documents_tab.select(documents.listing, **refresh)
        demo.load(documents.listing, **refresh)

        gr.api(
            make_ask(assistant),
            api_name="ask",
            concurrency_id="answer",
            concurrency_limit=settings.concurrency,
        )
    return demo


def launch(demo: gr.Blocks, settings: Settings, **options: Any) -> None:
    """Start serving ``demo`` as ``settings`` say (``options`` go to Gradio, e.g.
    ``prevent_thread_lock=True``); refuses to listen beyond loopback without a login."""
    pairs = credentials(settings.auth)
    check_exposure(settings.host, pairs)
    demo.queue(default_concurrency_limit=settings.concurrency)
    demo.launch(
        server_name=settings.host,
        server_port=settings.port,
        auth=pairs or None,
        auth_message=(
            "Log in to ask the documents. After 3 failed attempts each try waits longer "
            "(up to a minute): if nothing happens, wait a moment and try again."
        )
        if pairs
        else None,
        # Gradio refuses a whole selection for one file over this, so it is kept well above
        # the limit that each file is held to (and refused for, on its own) in uploads.store.
        max_file_size=int(SERVER_UPLOAD_FACTOR * settings.max_upload_mb * 1_000_000),
        show_error=False,
        ssr_mode=False,
        theme=gr.themes.Default(font=_SANS, font_mono=_MONO),
        # Failed logins slow down the next ones (throttle.py): Gradio answers every guess.
        app_kwargs={"middleware": [Middleware(LoginThrottle)]} if pairs else None,
        css=(Path(__file__).with_name("style.css")).read_text(encoding="utf-8"),
        **options,
    )


def serve(settings: Settings) -> int:
    """``python -m qa chat``: the page and its API until interrupted."""
    check_exposure(settings.host, credentials(settings.auth))  # before the model loads
    assistant = Assistant(settings)
    model = assistant.llm if settings.answer_mode != "extractive" else None
    if model is not None and model.local is not None:
        model.local.start()  # loads in its own process while the rest starts
    # The embedding model and search index load now, not while the first user waits.
    with contextlib.suppress(IndexNotFoundError, IndexMismatchError):
        assistant.retrieve("warm up", k=1)
    try:
        launch(build(assistant), settings)
    finally:
        assistant.close()
    return 0
