"""The source texts behind the citations, to check that each quote is ``text[start:end]``.

A source is found where the index's record says it was ingested from, or under ``docs_dir``
when given (the folder that was ingested, for an index built elsewhere). The file is read as
ingestion read it (``ingest.load.read_document``), and checked against the recorded hash:
a file changed since its ingestion cannot vouch for the offsets, so it is reported as
unchecked rather than counted wrong.
"""

from __future__ import annotations

from pathlib import Path

from ingest.load import LoadError, SourceFile, file_sha256, read_document
from ingest.store import Records


class SourceTexts:
    def __init__(self, records: Records | None = None, docs_dir: Path | None = None):
        self._records = records
        self._docs_dir = docs_dir
        self._cache: dict[str, str | Exception] = {}  # source -> text, or why it is unreadable

    def text(self, source: str) -> str:
        """The text of ``source`` as ingested; LookupError says why it cannot be had."""
        if source not in self._cache:
            try:
                self._cache[source] = self._read(source)
            except LookupError as err:
                self._cache[source] = err
        found = self._cache[source]
        if isinstance(found, Exception):
            raise found
        return found

    def _read(self, source: str) -> str:
        record = self._records.get(source) if self._records is not None else None
        if self._docs_dir is not None:
            path = self._docs_dir / source
        elif record is not None:
            path = Path(record.path)
        else:
            raise LookupError("not in the index's records (pass --docs DIR)")
        try:
            data, sha = file_sha256(path)
            if record is not None and record.sha256 != sha:
                raise LookupError(f"{path} changed since it was ingested")
            return read_document(SourceFile(path, source, path.parent), data, sha).text
        except (OSError, LoadError) as err:
            raise LookupError(f"cannot read {path}: {err}") from None

    def check(self, source: str, start: int, end: int, quote: str) -> bool | str:
        """True when ``quote`` is exactly the source's ``[start:end]``; else False, or the
        reason it could not be checked."""
        try:
            return self.text(source)[start:end] == quote
        except LookupError as err:
            return str(err.args[0]) if err.args else "source not found"
