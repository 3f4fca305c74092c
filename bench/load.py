"""Load on a running web app: concurrent gradio_client sessions asking through ``/ask``.

    make chat &                                   # or: python -m qa chat (any index, any mode)
    python -m bench.load [--url http://127.0.0.1:7860/] [--sessions 20] [--questions 5]
                         [--auth user:password]

Every session is its own ``gradio_client.Client`` (its own Gradio session) in its own thread;
all start together and ask their questions one after the other (the seed questions,
tests/eval/seed_qa.jsonl, each session starting at a different one). Prints the errors (an
exception, or a reply that is not an answer) and the latency of each answer, from the call to
the JSON, queueing included: the app answers ``QA_CONCURRENCY`` questions at once and queues
the rest; and who wrote the answers (``llm``: the model; ``extractive``: quoted, as when the
model's queue passes ``QA_LLM_TIMEOUT``).
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from gradio_client import Client

from qa.eval import load_cases

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "tests" / "eval" / "seed_qa.jsonl"


@dataclass
class Load:
    sessions: int
    questions: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    modes: dict[str, int] = field(default_factory=dict)  # answers by who wrote them

    def summary(self) -> str:
        answers = len(self.latencies)
        lines = [
            f"{self.sessions} sessions x {self.questions} questions: {answers} answers, "
            f"{len(self.errors)} errors in {self.seconds:.1f} s "
            f"({answers / self.seconds if self.seconds else 0:.2f} answers/s)"
        ]
        if self.latencies:
            a = np.array(self.latencies)
            lines.append(
                f"latency per answer: p50 {np.percentile(a, 50):.2f} s, "
                f"p95 {np.percentile(a, 95):.2f} s, max {a.max():.2f} s"
            )
        if self.modes:
            by = ", ".join(f"{m} {n / answers:.2f}" for m, n in sorted(self.modes.items()))
            lines.append(f"answered by: {by} (share of answers)")
        lines += [f"error: {e}" for e in self.errors[:10]]
        if len(self.errors) > 10:
            lines.append(f"... and {len(self.errors) - 10} more errors")
        return "\n".join(lines)


def run(
    url: str,
    sessions: int = 20,
    questions: int = 5,
    auth: tuple[str, str] | None = None,
    asked: Sequence[tuple[str, list[dict[str, str]]]] | None = None,
) -> Load:
    """``sessions`` clients at once, each asking ``questions`` (question, history) pairs."""
    if asked is None:
        cases, _ = load_cases(QUESTIONS)
        asked = [(c.question, list(c.history)) for c in cases]
    load = Load(sessions, questions)
    lock = threading.Lock()
    start = threading.Barrier(sessions + 1)

    def session(number: int) -> None:
        try:
            client = Client(url, auth=auth, verbose=False, analytics_enabled=False)
        except Exception as err:  # counted, not raised: one failed session is a figure
            start.wait()
            with lock:
                load.errors.append(f"session {number}: cannot connect: {err}")
            return
        start.wait()
        for i in range(questions):
            question, history = asked[(number * questions + i) % len(asked)]
            began = time.perf_counter()
            try:
                reply = client.predict(question=question, history=history, api_name="/ask")
            except Exception as err:
                with lock:
                    load.errors.append(f"session {number}, {question!r}: {err}")
                continue
            took = time.perf_counter() - began
            with lock:
                if isinstance(reply, dict) and isinstance(reply.get("text"), str):
                    load.latencies.append(took)
                    mode = str(reply.get("mode"))
                    load.modes[mode] = load.modes.get(mode, 0) + 1
                else:
                    load.errors.append(f"session {number}, {question!r}: not an answer: {reply!r}")

    threads = [threading.Thread(target=session, args=(n,), daemon=True) for n in range(sessions)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    load.seconds = time.perf_counter() - began
    return load


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:7860/", help="the running app")
    p.add_argument("--sessions", type=int, default=20, help="concurrent sessions (default 20)")
    p.add_argument("--questions", type=int, default=5, help="questions per session (default 5)")
    p.add_argument("--auth", help="user:password when the app has a login (QA_AUTH)")
    args = p.parse_args(argv)
    auth = None
    if args.auth:
        user, _, password = args.auth.partition(":")
        auth = (user, password)
    load = run(args.url, args.sessions, args.questions, auth)
    print(load.summary())
    return 1 if load.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
