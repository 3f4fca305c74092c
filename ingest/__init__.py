"""Turn files into indexed chunks: load -> split -> embed -> store (Chroma)."""

from .settings import offline_defaults

offline_defaults()

from .errors import (  # noqa: E402
    IndexBusyError,
    IndexMismatchError,
    IndexNotFoundError,
    IndexUnavailableError,
)
from .load import read_path  # noqa: E402
from .manage import delete_documents, list_documents  # noqa: E402
from .pipeline import Report, ingest  # noqa: E402
from .settings import IndexSettings, SettingsError  # noqa: E402

__all__ = [
    "IndexBusyError",
    "IndexMismatchError",
    "IndexNotFoundError",
    "IndexSettings",
    "IndexUnavailableError",
    "Report",
    "SettingsError",
    "delete_documents",
    "ingest",
    "list_documents",
    "read_path",
]
