"""Files uploaded from the page: checked, then kept under a safe name in the index folder.

An upload's name comes from the browser and is not trusted: only its last path component is
kept, reduced to letters, digits, ".", "-" and "_" (no leading dot, at most 100 characters),
and the stored path is checked to be inside the uploads folder. Uploading a file of the same
name again updates that document; a document of the same name ingested from elsewhere is
kept, and the upload named apart from it (``uploads/notes.md``: see ingest/sources.py).
Checked before anything is copied: the type (the suffixes ingestion reads) and the size.
A copy that replaces an earlier upload keeps the earlier one aside until ingestion says
whether the new one could be read (``Stored.settle``): a refused upload leaves nothing
behind, and the good one it would have replaced stays.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ingest.formats import SUPPORTED_SUFFIXES

UPLOADS_DIR = "uploads"  # inside the index folder
# The web server stores no file over this many times QA_MAX_UPLOAD_MB (it answers 413, and
# the page drops the whole selection); between the two, a file is refused here, alone.
SERVER_UPLOAD_FACTOR = 4
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_NAME = 100


def safe_name(name: str) -> str:
    """A file name that is safe on disk and in a document list; "" when nothing is left."""
    last = re.split(r"[\\/]", name)[-1]
    ascii_name = unicodedata.normalize("NFKD", last).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("_", ascii_name).strip("._-")
    stem, dot, suffix = cleaned.rpartition(".")
    if not dot:
        return cleaned[:_MAX_NAME]
    stem = stem.rstrip("._-")[: _MAX_NAME - len(suffix) - 1]
    return f"{stem}.{suffix}" if stem else ""


def _size(n: float) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


@dataclass
class Stored:
    paths: list[Path] = field(default_factory=list)  # copied into the uploads folder
    failed: list[tuple[str, str]] = field(default_factory=list)  # (name as uploaded, reason)
    previous: dict[Path, Path] = field(default_factory=dict)  # path -> the earlier copy, aside

    def settle(self, refused: Iterable[Path]) -> None:
        """Drop the copies that ingestion refused (the earlier ones come back), and the
        earlier copies of the ones it took."""
        refused = set(refused)
        for path in self.paths:
            earlier = self.previous.get(path)
            if path in refused:
                path.unlink(missing_ok=True)
                if earlier is not None:
                    earlier.replace(path)
            elif earlier is not None:
                earlier.unlink(missing_ok=True)


def store(uploads: Iterable[tuple[str, Path]], folder: Path, max_bytes: int) -> Stored:
    """Copy each upload (its name as the browser gave it, and where Gradio put it) into
    ``folder`` under its safe name; a wrong type, size or name is a failure with its reason."""
    out = Stored()
    supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
    taken: set[str] = set()
    for original, temp in uploads:
        name = safe_name(original)
        suffix = Path(name).suffix.lower()
        try:
            size = temp.stat().st_size
        except OSError as err:
            out.failed.append((original, f"the upload is gone ({err.strerror})"))
            continue
        if not name:
            out.failed.append((original, "no usable file name"))
        elif suffix not in SUPPORTED_SUFFIXES:
            out.failed.append(
                (original, f"unsupported file type {suffix or '(none)'!r} (supported: {supported})")
            )
        elif size > max_bytes:
            out.failed.append(
                (original, f"file is {_size(size)}, over the {_size(max_bytes)} limit per upload")
            )
        elif size == 0:
            out.failed.append((original, "empty file"))
        elif name in taken:
            out.failed.append((original, f"same name as another file of this upload ({name})"))
        else:
            taken.add(name)
            folder.mkdir(parents=True, exist_ok=True)
            target = (folder / name).resolve()
            if not target.is_relative_to(folder.resolve()):  # cannot happen with safe_name
                out.failed.append((original, "unsafe file name"))
                continue
            if target.exists():
                aside = target.with_name(f".previous-{target.name}")
                target.replace(aside)
                out.previous[target] = aside
            shutil.copyfile(temp, target)
            out.paths.append(target)
    return out
