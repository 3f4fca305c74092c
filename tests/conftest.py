"""Shared fixtures. The network is blocked outside loopback for every test (see _guard_network)."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["ANONYMIZED_TELEMETRY"] = "False"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
# The evaluation's inputs may come from the environment (tests/eval/): read before cleaning.
_EVAL_ENV = {k: os.environ.get(k) for k in ("QA_EVAL_CASES", "QA_EVAL_INDEX", "QA_EVAL_JUDGE")}
# The LLM judge of the evaluation (--eval-judge) is configured from the caller's environment.
USER_ENV = {k: v for k, v in os.environ.items() if k.startswith(("QA_", "OPENAI_"))}
# Session fixtures are built before the per-test env cleaning below: start the run clean too.
for _key in USER_ENV:
    del os.environ[_key]
os.environ["QA_LOCAL_MODEL"] = "off"  # see _clean_env

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_FILE = SEEDS / "us-strikes-strategic-mineral-deals-in-asia.txt"


class NetworkBlocked(OSError):
    """A test tried to reach beyond this machine."""


def _is_loopback(address: object) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return False
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name other than localhost would need DNS: outside world


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_connect(self: socket.socket, address: object) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise NetworkBlocked(f"test tried to connect to {address!r}; only loopback is allowed")
    return _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise NetworkBlocked(f"test tried to connect to {address!r}; only loopback is allowed")
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("evaluation", "the evaluation in tests/eval/")
    group.addoption(
        "--eval-cases",
        default=_EVAL_ENV["QA_EVAL_CASES"],
        help="JSONL case file (default: $QA_EVAL_CASES, else tests/eval/seed_qa.jsonl)",
    )
    group.addoption(
        "--eval-index",
        default=_EVAL_ENV["QA_EVAL_INDEX"],
        help="existing index to evaluate (default: $QA_EVAL_INDEX, else the seeds, indexed)",
    )
    group.addoption(
        "--eval-judge",
        action="store_true",
        default=(_EVAL_ENV["QA_EVAL_JUDGE"] or "0").lower() not in ("0", "false", "no", ""),
        help="also run the LLM judge (QA_JUDGE_MODEL or QA_LLM_MODEL, OPENAI_BASE_URL; "
        "default: $QA_EVAL_JUDGE)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Installed for the whole session, before any test or fixture opens a socket.
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting leaks in from the developer's shell; the default index is a temp folder."""
    for key in list(os.environ):
        if key.startswith(("QA_", "OPENAI_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "default-index"))
    # The local model takes seconds to load and 2 GB: only the tests about it turn it on.
    monkeypatch.setenv("QA_LOCAL_MODEL", "off")


@pytest.fixture(scope="session")
def embeddings():  # type: ignore[no-untyped-def]
    """The real offline MiniLM, loaded once for the session."""
    from ingest.embeddings import SentenceTransformerEmbeddings

    return SentenceTransformerEmbeddings()


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory, embeddings) -> Path:  # type: ignore[no-untyped-def]
    """An index of the seed collection, built once through the public ingest API."""
    import ingest
    from qa import Settings

    folder = tmp_path_factory.mktemp("seed-index")
    report = ingest.ingest([SEEDS], settings=Settings(index_dir=folder), embeddings=embeddings)
    assert report.ok and report.added, report.summary()
    return folder


@pytest.fixture(scope="session")
def seed_assistant(seed_index: Path, embeddings) -> Iterator[object]:  # type: ignore[no-untyped-def]
    from qa import Assistant, Settings

    assistant = Assistant(Settings(index_dir=seed_index), embeddings=embeddings)
    yield assistant
    assistant.index.close()


@pytest.fixture
def llm_server() -> Iterator[object]:
    """A scripted OpenAI-compatible server on 127.0.0.1 for one test (see tests/llm_server.py)."""
    from .llm_server import LLMServer

    with LLMServer() as server:
        yield server
