"""Runs at the start of every Python process the tests start (their PYTHONPATH holds this
folder): installs the loopback-only network guard when CITED_QA_TEST_NETGUARD=1, so that it
never affects anyone else. See loopback_guard.py."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys

if os.environ.get("CITED_QA_TEST_NETGUARD") == "1":
    import loopback_guard

    loopback_guard.install()
    if report := os.environ.get(loopback_guard.REPORT):
        # How a test sees that a process it cannot run code in (``chroma run``) is guarded.
        with open(os.path.join(report, str(os.getpid())), "w", encoding="utf-8") as f:
            f.write("guarded\n" if loopback_guard.installed() else "unguarded\n")

# This file shadows any other sitecustomize on the path (a distribution's): run that one too.
_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.machinery.PathFinder.find_spec(
    "sitecustomize", [p for p in sys.path if os.path.abspath(p or ".") != _here]
)
if _spec is not None and _spec.loader is not None:
    _module = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_module)
