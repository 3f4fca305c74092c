"""The llama.cpp runtime the local model runs on: what it was built for, and this CPU.

llama.cpp built for the machine that compiles it (``GGML_NATIVE``) uses every instruction set
that CPU has, AMX included, and its AMX kernels crash on some VMs (a general protection fault
on the first prompt long enough for the batched kernels). pip caches a built wheel by its
source, not by its build options, so such a wheel comes back on every install. The Makefile
builds for any x86-64 host with AVX2 instead (docs/local-model.md, "The build"), and
``python -m qa.local check`` tells it whether the installed runtime is that build.

Read without importing ``llama_cpp`` in the caller's process where it matters: the model's
process reports its runtime's features itself (``serve_model.py``).
Not handled: CPUs other than x86-64 (the check passes on them: there is no AMX to avoid).
"""

from __future__ import annotations

import hashlib
import importlib.util
import platform
import re
import sys
from collections.abc import Iterable
from pathlib import Path

REBUILD_COMMAND = "make rebuild-llama"
# What the portable build must have, and what only a build for one CPU has.
REQUIRED = ("AVX2",)
NOT_PORTABLE = ("AVX512", "AMX", "AVX_VNNI")
# The CPU flags (/proc/cpuinfo) worth naming when the runtime fails on a CPU.
_CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8")
_FEATURE = re.compile(r"(\w+) = 1\b")


def features(system_info: str) -> list[str]:
    """The features ``llama_print_system_info()`` reports as built in: "AVX2 = 1 | …"."""
    return list(dict.fromkeys(_FEATURE.findall(system_info)))


def problems(built: Iterable[str]) -> list[str]:
    """Why a runtime with these features is not the portable x86-64 build (empty: it is)."""
    built = list(built)
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return []
    found = [f"it was built with {f}" for f in built if f.startswith(NOT_PORTABLE)]
    found += [f"it lacks {f}" for f in REQUIRED if f not in built]
    return found


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """The instruction sets of this CPU that decide which llama.cpp builds run on it."""
    try:
        text = cpuinfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return []
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")),
        [],
    )
    return [f for f in _CPU_FLAGS if f in flags]


def library_stamp() -> str:
    """Identifies the installed runtime without loading it: its libraries' sizes and times.

    A rebuild changes it, so a verdict about the old runtime (``server.py``) no longer holds.
    """
    spec = importlib.util.find_spec("llama_cpp")
    folders = list(spec.submodule_search_locations or []) if spec else []
    parts = []
    for folder in folders:
        for lib in sorted(Path(folder).glob("lib/*.so*")):
            stat = lib.stat()
            parts.append(f"{lib.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def check() -> int:
    """Print the installed runtime's features; 1 (and why, on stderr) when not portable."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode(errors="replace").strip()
    print(f"llama.cpp runtime: {info}")
    found = problems(features(info))
    if found:
        print(
            f"llama-cpp-python is not the portable build ({'; '.join(found)}): "
            f"it may crash on other CPUs. Rebuild it: {REBUILD_COMMAND}",
            file=sys.stderr,
        )
        return 1
    return 0
