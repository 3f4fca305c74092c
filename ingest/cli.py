"""``python -m ingest [PATH ...]``: bring the index up to date, with progress and a summary.

Also ``--list`` (the documents in the index) and ``--delete SOURCE`` (remove one).
Exit status: 0 when every file was ingested (or every listed source deleted), 1 when some
failed (they are listed with their reasons; the rest is done), 2 when nothing could be done
(bad settings or arguments, an index built with another model, no index or Chroma server,
another ingestion running on the same index).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence

from tqdm import tqdm

from .errors import IndexBusyError, IndexMismatchError, IndexNotFoundError
from .manage import Listing, delete_documents, list_documents
from .pipeline import ProgressFn, ingest
from .settings import IndexSettings, SettingsError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ingest", description=__doc__.splitlines()[0])
    p.add_argument("paths", nargs="*", help="files or folders (default: seeds)")
    p.add_argument(
        "--prune", action="store_true", help="delete indexed documents not found in PATHs"
    )
    p.add_argument(
        "--reindex", action="store_true", help="empty the index first (after a model change)"
    )
    p.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="GLOB",
        help="only files in folders matching this (repeatable), e.g. '*.pdf', 'reports/**'",
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip files or folders matching this (repeatable), e.g. 'drafts', '*.htm'",
    )
    p.add_argument("--max-file-mb", type=float, help="skip larger files (default 100)")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--list", action="store_true", help="list the indexed documents and exit")
    action.add_argument(
        "--delete",
        action="append",
        metavar="SOURCE",
        help="remove a document (its source as --list shows it; repeatable) and exit",
    )
    p.add_argument("--json", action="store_true", help="with --list: print JSON")
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
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.list or args.delete) and (args.paths or args.prune or args.reindex):
        parser.error("--list and --delete take no PATHs, --prune or --reindex")
    try:
        settings = IndexSettings.load(
            index_dir=args.index_dir,
            embedding_model=args.embedding_model,
            max_file_mb=args.max_file_mb,
        )
        if args.list:
            listing = list_documents(settings)
            print(_listing_json(listing) if args.json else _listing_text(listing))
            return 0
        if args.delete:
            return _delete(args.delete, settings)
        return _ingest(args, settings)
    except (SettingsError, IndexMismatchError, IndexNotFoundError, IndexBusyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: documents finished so far are kept; run again to continue",
            file=sys.stderr,
        )
        return 130


def _ingest(args: argparse.Namespace, settings: IndexSettings) -> int:
    bars = None if args.quiet else _Bars()
    progress: ProgressFn | None = bars
    try:
        report = ingest(
            args.paths or ["seeds"],
            settings=settings,
            prune=args.prune,
            reindex=args.reindex,
            include=args.include,
            exclude=args.exclude,
            on_progress=progress,
        )
    finally:
        if bars:
            bars.close()
    for path, reason in report.failed:
        print(f"failed: {path}: {reason}", file=sys.stderr)
    print(report.summary())
    return 0 if report.ok else 1


def _delete(sources: list[str], settings: IndexSettings) -> int:
    deleted, missing = delete_documents(sources, settings)
    for source, chunks in deleted.items():
        print(f"deleted: {source} ({chunks} chunks)")
    for source in missing:
        print(f"failed: {source}: not in the index (see --list)", file=sys.stderr)
    return 1 if missing else 0


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _listing_text(listing: Listing) -> str:
    docs = listing.documents
    width = max([len("SOURCE"), *(len(d.source) for d in docs)])
    lines = [f"{'SOURCE':<{width}}  {'CHUNKS':>6}  INGESTED"]
    lines += [f"{d.source:<{width}}  {d.chunks:>6}  {_when(d.ingested_at)}" for d in docs]
    model = f", {listing.model} ({listing.dimension} dimensions)" if listing.model else ""
    lines.append(
        f"{len(docs)} document{'s' * (len(docs) != 1)}, {listing.chunks} chunks in "
        f"{listing.where}{model}"
    )
    for source, chunks in listing.incomplete.items():
        lines.append(
            f"incomplete: {source} ({chunks} chunks stored; an ingestion was interrupted: "
            "run it again, or --delete it if its file is gone)"
        )
    return "\n".join(lines)


def _listing_json(listing: Listing) -> str:
    return json.dumps(
        {
            "index": listing.where,
            "model": listing.model,
            "dimension": listing.dimension,
            "documents": [
                {
                    "source": d.source,
                    "title": d.title,
                    "chunks": d.chunks,
                    "chars": d.chars,
                    "ingested_at": dt.datetime.fromtimestamp(d.ingested_at).isoformat(),
                    "path": d.path,
                }
                for d in listing.documents
            ],
            "incomplete": listing.incomplete,
        },
        ensure_ascii=False,
        indent=2,
    )
