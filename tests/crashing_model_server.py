"""qa/local/serve_model.py with a fault injected: its self-test crashes the process, as
llama.cpp's AMX kernels do on some VMs (a segmentation fault on the first long prompt).

Everything else is the real script: it loads the real model, reports its runtime, and says
``self-test`` before it dies. Run by tests/test_model_crash.py as a ``ModelServer`` script.
"""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "qa" / "local"))

import serve_model


def _crash(llama: Any, system: str) -> None:
    ctypes.string_at(0)  # reads address 0: SIGSEGV, as a faulting kernel does


serve_model.self_test = _crash
serve_model.main()
