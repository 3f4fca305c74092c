"""bench/perf.py on tiny data: its pieces work and agree with each other, and the one command
runs end to end. Nothing here is timed; the figures are the benchmark's business."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bench import multihop_data, perf
from bench import perf_groups as g
from bench.multihop_rag import peer_chunks
from ingest.settings import IndexSettings
from ingest.store import Index

from .conftest import ROOT
from .consistency import assert_search_index_matches_chroma


def _article(i: int, source: str, body: str) -> dict[str, str]:
    return {
        "title": f"Story {i}",
        "author": "",
        "source": source,
        "published_at": f"2023-10-0{i + 1}T10:00:00+00:00",
        "category": "news",
        "url": f"https://example.org/{i}",
        "body": body,
    }


ARTICLES = [
    _article(0, "Island Times", "Mount Etna erupted on Thursday. Ash closed Catania airport."),
    _article(1, "Harbour News", "High tide in Venice came at noon. The square flooded again."),
    _article(2, "Island Times", "Lynas Rare Earths runs a plant in Malaysia. It faced protests."),
]


def _query(stem: str) -> dict[str, object]:
    text = next(q for i in range(100) if multihop_data.is_dev(q := f"{stem} ({i})?"))
    return {"query": text, "question_type": "inference_query", "evidence_list": [], "answer": ""}


QUERIES = [_query("What closed Catania airport"), _query("When did the tide come in Venice")]


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "corpus.json").write_text(json.dumps(ARTICLES))
    (folder / "MultiHopRAG.json").write_text(json.dumps(QUERIES))
    monkeypatch.setenv("QA_BENCH_DATA", str(folder))
    multihop_data.corpus.cache_clear()
    multihop_data.queries.cache_clear()
    yield folder
    multihop_data.corpus.cache_clear()
    multihop_data.queries.cache_clear()


def test_copies_get_new_ids_and_names_and_nudged_unit_vectors() -> None:
    """The scale group grows an index with these: numbering goes on from what is there."""
    vectors = np.eye(3, 4, dtype=np.float32)
    base = {
        "ids": ["a", "b", "c"],
        "documents": ["A.", "B.", "C."],
        "metadatas": [{"source": f"{x}.md", "publisher": "P"} for x in "abc"],
        "vectors": vectors,
    }
    made = g._copies(base, 2, np.random.default_rng(0))
    chunks, nudged = zip(*(next(made) for _ in range(4)), strict=True)
    assert [c.id for c in chunks] == ["c-1", "a-2", "b-2", "c-2"]
    assert [c.metadata["source"] for c in chunks] == [
        "copy1/c.md",
        "copy2/a.md",
        "copy2/b.md",
        "copy2/c.md",
    ]
    assert [c.text for c in chunks] == ["C.", "A.", "B.", "C."]
    assert all(c.metadata["publisher"] == "P" for c in chunks)
    assert np.linalg.norm(nudged, axis=1) == pytest.approx(np.ones(4))
    cosines = [float(v @ vectors[i]) for v, i in zip(nudged, [2, 0, 1, 2], strict=True)]
    assert min(cosines) > 0.98 and max(cosines) < 1.0


@pytest.mark.slow
def test_one_command_runs_every_group_in_its_own_process(data: Path, tmp_path: Path) -> None:
    """The command a user runs, on three articles: every group in its own process, the tables
    and the plot; then the indexes it built are checked."""
    out, work = tmp_path / "perf.json", tmp_path / "work"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.perf",
            "--articles=3",
            "--queries=2",
            "--scale-queries=2",
            "--sizes=1,12",
            "--startup-runs=1",
            f"--plot={tmp_path / 'perf.png'}",
            f"--json={out}",
            f"--work-dir={work}",
        ],
        cwd=ROOT,
        env={**os.environ, "QA_BENCH_DATA": str(data)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert all(name in run.stdout for name in perf.TARGETS)
    assert (tmp_path / "perf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = json.loads(out.read_text())
    ing, q = r["ingestion"], r["queries"]
    with Index(IndexSettings(index_dir=work / g.SEED), g._embeddings(warm=False)) as index:
        stored = index.count()
        seed_texts = set(index.collection.get(include=["documents"])["documents"] or [])
    assert ing["articles"] == 3 and ing["chunks"] == stored > 0
    assert ing["rounds"] == 3  # one article a round: each ingestion found one new file
    assert ing["peer_chunks"] == ing["peer_stored"] == len(peer_chunks(ARTICLES))
    assert min(ing[k] for k in ("ours_s", "floor_s", "peer_s", "rerun_s", "rerun_cli_s")) > 0
    assert q["questions"] == len(QUERIES)
    for step in ("floor", "retrieve", "ask", "peer"):
        assert 0 < q[step]["p50_ms"] <= q[step]["p95_ms"]
    assert r["startup"]["runs"] == 1 and r["startup"]["peak_rss_mb"] > 0

    first, grown = r["scale"]["points"]
    assert first["chunks"] == stored and first["index_rebuild_s"] is None
    assert grown["chunks"] == 12 and grown["index_rebuild_s"] > 0
    assert grown["index_mb"] > first["index_mb"] and r["scale"]["questions"] == 2
    assert all(0 < p["retrieve"]["p50_ms"] <= p["retrieve"]["p95_ms"] for p in (first, grown))
    grown_dir = work / f"{g.SCALED}-12"
    assert_search_index_matches_chroma(grown_dir)  # the search index grew with it
    with Index(IndexSettings(index_dir=grown_dir), g._embeddings(warm=False)) as index:
        got = index.collection.get(include=["metadatas", "documents"])
    sources = [m["source"] for m in got["metadatas"]]
    assert (
        len(set(got["ids"])) == 12
        and len([s for s in sources if s.startswith("copy")]) == 12 - stored
    )
    assert set(got["documents"]) == seed_texts
