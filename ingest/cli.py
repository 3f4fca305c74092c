"""``python -m ingest [PATH ...]``: bring the index up to date, with progress and a summary.

Exit status: 0 when every file was ingested, 1 when some failed (they are listed; the rest
is ingested), 2 when nothing could be done (bad settings or arguments, wrong model).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tqdm import tqdm

from .pipeline import ProgressFn, ingest
from .settings import IndexSettings, SettingsError
from .store import IndexMismatchError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ingest", description=__doc__.splitlines()[0])
    p.add_argument("paths", nargs="*", default=["seeds"], help="files or folders (default: seeds)")
    p.add_argument(
        "--prune", action="store_true", help="delete indexed documents not found in PATHs"
    )
    p.add_argument(
        "--reindex", action="store_true", help="empty the index first (after a model change)"
    )
    p.add_argument("--index-dir", help="index folder (default: $QA_INDEX_DIR or .qa_index)")
    p.add_argument("--embedding-model", help="sentence-transformers path/name or openai:<model>")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return p


class _Bars:
    """tqdm bars on stderr, one per stage, opened on first report."""

    def __init__(self) -> None:
        self._bars: dict[str, tqdm] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        bar = self._bars.get(stage)
        if bar is None:
            unit = "file" if stage == "reading" else "chunk"
            bar = self._bars[stage] = tqdm(
                total=total, desc=stage, unit=unit, file=sys.stderr, leave=False
            )
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    bars = None if args.quiet else _Bars()
    progress: ProgressFn | None = bars
    try:
        settings = IndexSettings.load(
            index_dir=args.index_dir, embedding_model=args.embedding_model
        )
        report = ingest(
            args.paths,
            settings=settings,
            prune=args.prune,
            reindex=args.reindex,
            on_progress=progress,
        )
    except (SettingsError, IndexMismatchError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: documents finished so far are kept; run again to continue",
            file=sys.stderr,
        )
        return 130
    finally:
        if bars:
            bars.close()
    for path, reason in report.failed:
        print(f"failed: {path}: {reason}", file=sys.stderr)
    print(report.summary())
    return 0 if report.ok else 1
