"""Shared fixtures. The network is blocked outside loopback for every test and every process
the tests start (tests/netguard/)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest

from .netguard import loopback_guard
from .netguard.loopback_guard import NetworkBlocked

__all__ = ["NetworkBlocked"]  # for tests/test_network_guard.py

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

# subtle: anyio imports its parts on first use, and pytest rewrites the asserts of anyio's
# modules as it imports them (anyio is a pytest plugin), compiling their source. CPython 3.11's
# compiler is not thread-safe: a first use inside the web app's server thread (a file
# response) while the test thread compiled failed a browser test once with "AST constructor
# recursion depth mismatch". So all of anyio is imported here, before any server starts.
for _name in dir(anyio):
    getattr(anyio, _name)

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_FILE = SEEDS / "us-strikes-strategic-mineral-deals-in-asia.txt"


# Every Python process the tests start installs the same guard (tests/netguard/), and logs
# what it blocks where each test's teardown looks (_no_blocked_attempts).
_BLOCKED_LOG = Path(tempfile.mkdtemp(prefix="netguard-")) / "blocked.log"
os.environ[loopback_guard.LOG] = str(_BLOCKED_LOG)
os.environ.update(loopback_guard.child_env())


def _children_guarded(event: str, args: tuple[object, ...]) -> None:
    """Audit hook: a process started with an environment that would leave it unguarded fails."""
    if event == "subprocess.Popen":
        env = args[3]
        if not loopback_guard.guards(os.environ if env is None else env):  # type: ignore[arg-type]
            raise RuntimeError(
                f"{args[1]!r} was started without the network guard: build its environment "
                "with tests.netguard.loopback_guard.child_env(...)"
            )


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


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_BLOCKED_LOG.parent, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    # Installed for the whole session, before any test or fixture opens a socket.
    loopback_guard.install()
    sys.addaudithook(_children_guarded)


@pytest.fixture(autouse=True)
def _no_blocked_attempts() -> Iterator[None]:
    """A connection beyond loopback fails its test even when the code caught the error (one
    made while no test runs, by a shared fixture's process, fails the next test)."""
    yield
    if attempts := loopback_guard.blocked(_BLOCKED_LOG):
        pytest.fail(f"connections beyond loopback were attempted: {attempts}", pytrace=False)


@pytest.fixture
def blocked_attempts() -> Iterator[Callable[[], list[str]]]:
    """For a test that makes blocked attempts on purpose: a call returns those logged since the
    last one; they do not fail the test."""
    yield lambda: loopback_guard.blocked(_BLOCKED_LOG)
    loopback_guard.blocked(_BLOCKED_LOG)


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
