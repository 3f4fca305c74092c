"""Turn files into indexed chunks: load -> split -> embed -> store (Chroma)."""

from .settings import offline_defaults

offline_defaults()

from .pipeline import Report, ingest  # noqa: E402
from .settings import IndexSettings, SettingsError  # noqa: E402
from .store import IndexMismatchError, IndexNotFoundError  # noqa: E402

__all__ = [
    "IndexMismatchError",
    "IndexNotFoundError",
    "IndexSettings",
    "Report",
    "SettingsError",
    "ingest",
]
