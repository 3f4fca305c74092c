"""The Documents tab: upload files (ingested with progress), list and delete documents.

Ingestion and deletion are ``ingest``'s own (``ingest.ingest``, ``ingest.delete_documents``,
``ingest.list_documents``); this only moves uploads into place and reports. The index's
writer lock keeps one writer at a time; the page also queues its uploads and deletions one
at a time, so a second user waits rather than getting "busy".
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr

import ingest
from ingest.errors import IndexBusyError, IndexMismatchError, IndexNotFoundError
from ingest.settings import SettingsError
from ingest.sources import shown

from ..assistant import Assistant
from .render import documents_html, esc, ingest_html
from .uploads import UPLOADS_DIR, store


class Documents:
    """The handlers of the Documents tab, over one assistant's index."""

    def __init__(self, assistant: Assistant):
        self.assistant = assistant
        self.settings = assistant.settings
        self.folder = Path(self.settings.index_dir) / UPLOADS_DIR

    def _open_shared(self) -> None:
        """subtle: chromadb keeps one client system per index folder, and two threads creating
        the first one at once break it ("Could not connect to tenant default_tenant"). The
        assistant creates it, under its lock, before ``ingest`` opens the folder again."""
        with contextlib.suppress(IndexNotFoundError, IndexMismatchError):
            self.assistant.index  # noqa: B018 (opened for its side effect)

    def listing(self) -> tuple[str, Any]:
        """The document list and the choices of the delete menu."""
        self._open_shared()
        try:
            found = ingest.list_documents(self.settings, self.assistant.embeddings)
        except IndexNotFoundError as err:
            return documents_html(None, str(err)), gr.update(choices=[], value=None)
        sources = [d.source for d in found.documents] + list(found.incomplete)
        return documents_html(found), gr.update(choices=sources, value=None)

    def upload(
        self, files: Sequence[str] | None, progress: gr.Progress | None = None
    ) -> tuple[str, str, Any, None]:
        """Store and ingest the uploaded files; returns the report, the list, the menu, and
        clears the upload box."""
        if not files:
            return ingest_html(None, []), *self.listing(), None
        max_bytes = int(self.settings.max_upload_mb * 1_000_000)
        temps = [Path(f) for f in files]
        stored = store(((t.name, t) for t in temps), self.folder, max_bytes)
        for t in temps:  # Gradio's copy is not needed once ours is made (or refused)
            t.unlink(missing_ok=True)

        def step(stage: str, done: int, total: int) -> None:
            if progress is not None:
                progress((done, total), desc=f"{stage} {done}/{total}")

        report, problem = None, ""
        refused = list(stored.paths)  # until ingestion says otherwise
        if stored.paths:
            self._open_shared()
            try:
                report = ingest.ingest(
                    stored.paths,
                    settings=self.settings,
                    embeddings=self.assistant.embeddings,
                    on_progress=step,
                )
                failed_paths = {path for path, _ in report.failed}
                refused = [p for p in stored.paths if shown(p) in failed_paths]
            except (IndexBusyError, IndexMismatchError, IndexNotFoundError, SettingsError) as err:
                problem = str(err)
            finally:
                stored.settle(refused)
        failed = list(stored.failed)
        if report is not None:
            failed += [(Path(path).name, reason) for path, reason in report.failed]
        return ingest_html(report, failed, problem), *self.listing(), None

    def delete(self, source: str | None) -> tuple[str, str, Any]:
        """Remove one document from the index (and its uploaded copy, if it was uploaded)."""
        if not source:
            return _note("Choose a document to delete."), *self.listing()
        self._open_shared()
        try:
            # Its uploaded copy goes with it; a file ingested from elsewhere is not ours.
            uploaded = [
                Path(d.path)
                for d in ingest.list_documents(self.settings, self.assistant.embeddings).documents
                if d.source == source and Path(d.path).parent == self.folder.resolve()
            ]
            deleted, missing = ingest.delete_documents(
                [source], self.settings, self.assistant.embeddings
            )
        except (IndexBusyError, IndexNotFoundError) as err:
            return _note(str(err)), *self.listing()
        if missing:
            return _note(f"{source} is not in the index."), *self.listing()
        for path in uploaded:
            path.unlink(missing_ok=True)
        chunks = deleted[source]
        return _note(f"Deleted {source} ({chunks} chunks)."), *self.listing()


def _note(text: str) -> str:
    return f'<div class="qa-report"><p>{esc(text)}</p></div>'
