"""The scale curve: what a query process holds and how fast it answers at 1k to 1M chunks.

    python -m bench.scale_curve [--sizes 1000,10000,100000,1000000] [--work-dir out/scale]
        [--questions 100] [--label new] [--chroma-url URL] [--json FILE]
    python -m bench.scale_curve --plot docs/scale.png today.json new.json [...]

On the synthetic collections of ``bench/scale_data.py`` (built first), for each size, each
in a fresh process of its own, after an untimed one that brings the search index on disk up
to date for the design under test (it may have to make it, or compact it):

- query: load the embedding model (and encode once), then build ``qa.Assistant`` and time
  its first ``retrieve`` (k = 10: opening Chroma and the search index included), then
  ``--questions`` MultiHop-RAG dev questions (p50, p95), each timed in turn with its floor,
  the model encoding the question alone (the cores are shared); resident memory once the
  model is loaded, and after the questions (total, and its anonymous and file-mapped parts:
  file pages are the page cache, shared by every process that maps the file);
- change: in one process, add a held-out article's chunks with their real vectors
  (``Index.put`` and close, as ``python -m ingest`` does after embedding: the search index on
  disk brought up to date too) and delete it again, after one warm-up round; medians.

The same script runs against an older checkout (copy it and ``scale_data.py`` there, run it
from there) for the older design's figures, written with ``--json`` and plotted together
with ``--plot``. With ``--chroma-url`` the query process is a client of that Chroma server
(its collection built as ``bench/scale_data.py --chroma-url`` does), and the change figures
are skipped. Run it holding the machine's CPU lock when its figures are reported.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .multihop_data import dev_queries
from .scale_data import DEFAULT_WORK, HELD_OUT, base

K = 10
STARTED = time.perf_counter()


def memory() -> dict[str, float]:
    """Resident memory of this process now and at its peak, MB (Linux)."""
    fields = {"VmRSS": "rss", "RssAnon": "anon", "RssFile": "file", "VmHWM": "peak"}
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in fields:
            out[fields[key]] = int(line.split()[1]) / 1024
    return out


def query_point(index_dir: Path, questions: int, chroma_url: str | None) -> dict[str, Any]:
    import qa  # first: keeps Chroma's telemetry and the hub off

    from ingest.embeddings import SentenceTransformerEmbeddings  # isort: skip

    embeddings = SentenceTransformerEmbeddings()
    embeddings.embed_query("warm up")
    model = memory()
    settings = qa.Settings(index_dir=index_dir, answer_mode="extractive", chroma_url=chroma_url)
    asked = [q["query"] for q in dev_queries()[: questions + 1]]
    started = time.perf_counter()
    assistant = qa.Assistant(settings, embeddings=embeddings)
    found = assistant.retrieve(asked[0], k=K)
    first = time.perf_counter() - started
    since_start = time.perf_counter() - STARTED
    times, floor = [], []
    for q in asked[1:]:  # each in turn with its floor: the model encoding the question alone
        started = time.perf_counter()
        embeddings.embed_query(q)
        floor.append(time.perf_counter() - started)
        started = time.perf_counter()
        assistant.retrieve(q, k=K)
        times.append(time.perf_counter() - started)
    ms, floor_ms = np.array(times) * 1000, np.array(floor) * 1000
    after = memory()
    return {
        "chunks": assistant.index.count(),
        "passages": len(found),
        "first_retrieve_s": first,
        "process_start_to_first_s": since_start,
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "floor_p50_ms": float(np.percentile(floor_ms, 50)),
        "floor_p95_ms": float(np.percentile(floor_ms, 95)),
        "questions": len(times),
        "model_rss_mb": model["rss"],
        "rss_mb": after["rss"],
        "beyond_model_mb": after["rss"] - model["rss"],
        "anon_mb": after["anon"],
        "file_mb": after["file"],
        "peak_mb": after["peak"],
    }


def change_point(work: Path, index_dir: Path, repeats: int) -> dict[str, Any]:
    import ingest  # first: keeps Chroma's telemetry off

    from ingest.embeddings import SentenceTransformerEmbeddings  # isort: skip
    from ingest.store import Index

    b = base(work)
    embeddings = SentenceTransformerEmbeddings()
    settings = ingest.IndexSettings(index_dir=index_dir)
    times: dict[str, list[float]] = {"add": [], "delete": []}
    sizes = []
    for n in range(len(b.docs) - HELD_OUT, len(b.docs) - HELD_OUT + repeats + 1):
        doc, vectors = b.docs[n], b.vectors[n]
        started = time.perf_counter()
        with Index(settings, embeddings) as writer:
            writer.put(doc, vectors)
        added = time.perf_counter() - started
        started = time.perf_counter()
        with Index(settings, embeddings) as writer:
            assert writer.delete_document(doc[0].metadata["source"]) == len(doc)
        deleted = time.perf_counter() - started
        if n > len(b.docs) - HELD_OUT:  # the first round opens Chroma's files: a warm-up
            times["add"].append(added * 1000)
            times["delete"].append(deleted * 1000)
            sizes.append(len(doc))
    return {
        "add_ms": statistics.median(times["add"]),
        "delete_ms": statistics.median(times["delete"]),
        "add_range_ms": [min(times["add"]), max(times["add"])],
        "delete_range_ms": [min(times["delete"]), max(times["delete"])],
        "document_chunks": sizes,
    }


def _worker(args: list[str]) -> dict[str, Any]:
    """Run one point in a fresh process; its figures come back as JSON on the last line."""
    run = subprocess.run(
        [sys.executable, "-m", "bench.scale_curve", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode:
        raise SystemExit(f"worker {args} failed:\n{run.stderr[-3000:]}")
    return dict(json.loads(run.stdout.strip().splitlines()[-1]))


def curve(args: argparse.Namespace) -> list[dict[str, Any]]:
    points = []
    for size in [int(s) for s in args.sizes.split(",")]:
        folder = args.work_dir / f"index-{size}"
        common = ["--work-dir", str(args.work_dir), "--index", str(folder)]
        query = ["--worker", "query", "--questions", str(args.questions), *common]
        if args.chroma_url:
            points += _client_points(args, size, query)
            continue
        # An untimed first pass: the search index on disk brought up to date (or made, or
        # compacted) by the design under test, so that the timed process only opens it.
        _worker([*query[:3], "1", *query[4:]])
        point = {"size": size, "label": args.label} | _worker(query)
        point |= _worker(["--worker", "change", "--repeats", str(args.repeats), *common])
        print(json.dumps(point), flush=True)
        points.append(point)
    return points


def _client_points(args: argparse.Namespace, size: int, query: list[str]) -> list[dict[str, Any]]:
    """A client of the server: on a machine that has no search index yet (its first
    question waits for one to be made from the server's texts), then in a fresh process."""
    local = args.work_dir / f"client-{size}"
    shutil.rmtree(local, ignore_errors=True)
    query = [*query[:-1], str(local), "--chroma-url", args.chroma_url]  # --index: its own
    points = []
    for label in (f"{args.label}, new machine", args.label):
        point = {"size": size, "label": label} | _worker(query)
        print(json.dumps(point), flush=True)
        points.append(point)
    return points


def table(points: list[dict[str, Any]]) -> str:
    rows = [
        "| design | chunks | beyond model, MB (anon / file) | peak MB | first retrieve s "
        "| p50 / p95 ms (floor) | add / delete one document ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in points:
        change = f"{p['add_ms']:.0f} / {p['delete_ms']:.0f}" if "add_ms" in p else "–"
        floor = (  # older runs timed no floor
            f" ({p['floor_p50_ms']:.0f} / {p['floor_p95_ms']:.0f})" if "floor_p50_ms" in p else ""
        )
        rows.append(
            f"| {p['label']} | {p['chunks']:,} | {p['beyond_model_mb']:.0f} "
            f"({p['anon_mb']:.0f} / {p['file_mb']:.0f}) | {p['peak_mb']:.0f} "
            f"| {p['first_retrieve_s']:.2f} | {p['p50_ms']:.0f} / {p['p95_ms']:.0f}{floor} "
            f"| {change} |"
        )
    return "\n".join(rows)


def plot(path: Path, runs: list[list[dict[str, Any]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = [
        ("beyond_model_mb", "memory beyond the model, MB"),
        ("first_retrieve_s", "first retrieve after start, s"),
        ("p95_ms", "retrieve p95, ms"),
        ("add_ms", "add one document, ms"),
    ]
    fig, axes = plt.subplots(1, len(figures), figsize=(4 * len(figures), 3.6))
    for ax, (key, title) in zip(axes, figures, strict=True):
        for points in runs:
            have = [p for p in points if key in p]
            if have:
                ax.plot(
                    [p["chunks"] for p in have],
                    [p[key] for p in have],
                    "o-",
                    label=have[0]["label"],
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("chunks")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--label", default="this checkout")
    parser.add_argument("--chroma-url")
    parser.add_argument("--json", type=Path, help="write the points here")
    parser.add_argument("--plot", type=Path, help="plot these JSON files (given after)")
    parser.add_argument("runs", nargs="*", type=Path)
    parser.add_argument("--worker", choices=("query", "change"), help=argparse.SUPPRESS)
    parser.add_argument("--index", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker == "query":
        print(json.dumps(query_point(args.index, args.questions, args.chroma_url)))
    elif args.worker == "change":
        print(json.dumps(change_point(args.work_dir, args.index, args.repeats)))
    elif args.plot:
        runs = [json.loads(p.read_text()) for p in args.runs]
        plot(args.plot, runs)
        print(table([p for points in runs for p in points]))
    else:
        points = curve(args)
        if args.json:
            args.json.write_text(json.dumps(points, indent=1))
        print(table(points))


if __name__ == "__main__":
    main()
