"""What our code adds to the model's own time to first token, and how fast a dead LLM falls back.

Runs the scripted OpenAI-compatible server (tests/llm_server.py) in this process, so its
clock is ours: for each question the model's own time to first token is the server's (request
received -> first piece sent), and our overhead is the time from ``stream()`` to the first
text shown minus that. It is split into the part before the request reaches the server
(question check, retrieval, prompt) and the part after the first piece leaves it (HTTP, SSE
parsing, LangChain, the worker thread). The citation check after the last piece is timed too.
Then the server hangs or fails, and the time to the extractive fallback is set against
``QA_LLM_TIMEOUT``.

    python -m bench.llm_latency [--index-dir DIR] [--model-ttft 0.3] [--timeouts 2 5]

The seed questions (tests/eval/seed_qa.jsonl) over an index of seeds/ (built when missing).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

import ingest
from qa import Answer, Assistant, Settings
from tests.llm_server import Hang, LLMServer, Reply, Scripted, Status, grounded

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "tests" / "eval" / "seed_qa.jsonl"


def paced(ttft: float, chunk_delay: float) -> Callable[[dict[str, Any]], Scripted]:
    def respond(body: dict[str, Any]) -> Scripted:
        reply = grounded(body)
        return Reply(reply.text, ttft, chunk_delay) if isinstance(reply, Reply) else reply

    return respond


def ms(values: list[float]) -> str:
    a = np.array(values) * 1000
    median, p90 = np.median(a), np.percentile(a, 90)
    return f"median {median:7.1f} ms   p90 {p90:7.1f} ms   max {a.max():7.1f} ms"


def timed_stream(parts: Iterator[str | Answer]) -> tuple[float | None, float, float, Answer]:
    """(first text, last text, answer) times for one streamed answer."""
    first = last = None
    for part in parts:
        now = time.perf_counter()
        if isinstance(part, Answer):
            return first, last or now, now, part
        first = first or now
        last = now
    raise AssertionError("the stream ended without an Answer")


def overhead(assistant: Assistant, server: LLMServer, questions: list[str]) -> None:
    rows: dict[str, list[float]] = {k: [] for k in ("model", "ours", "before", "after", "check")}
    follow: dict[str, list[float]] = {k: [] for k in ("model", "ours")}
    for q in questions:
        server.reset()
        started = time.perf_counter()
        first, last, done, answer = timed_stream(assistant.stream(q))
        if answer.mode != "llm" or answer.refused or first is None:
            continue  # a refusal streams nothing; its time is not a time to first token
        [request] = server.requests
        assert request.first_token is not None and request.model_ttft is not None
        rows["model"].append(request.model_ttft)
        rows["ours"].append(first - started - request.model_ttft)
        rows["before"].append(request.received - started)
        rows["after"].append(first - request.first_token)
        rows["check"].append(done - last)
        # The same question as a follow-up: one more model call (the rewrite) comes first.
        server.reset()
        started = time.perf_counter()
        history = [{"role": "user", "content": "Tell me about the article."}]
        first, *_ = timed_stream(assistant.stream(q, history=history))
        condense, answer_request = server.requests
        assert first is not None and answer_request.model_ttft is not None
        model = (condense.done or condense.received) - condense.received
        model += answer_request.model_ttft
        follow["model"].append(model)
        follow["ours"].append(first - started - model)
    n = len(rows["model"])
    print(f"== streaming, {n} answered seed questions (refusals stream nothing and are left out)")
    print(f"model's own time to first token:      {ms(rows['model'])}")
    print(f"our overhead on it:                   {ms(rows['ours'])}")
    print(f"  before the request reaches the LLM: {ms(rows['before'])}")
    print(f"  after its first piece leaves it:    {ms(rows['after'])}")
    print(f"citation check after the last piece:  {ms(rows['check'])}")
    print(f"== the same questions as follow-ups (a rewrite call first), n={len(follow['model'])}")
    print(f"model's own time (rewrite + TTFT):    {ms(follow['model'])}")
    print(f"our overhead on it:                   {ms(follow['ours'])}")


def fallback(assistant: Assistant, server: LLMServer, question: str, timeouts: list[float]) -> None:
    print("== fallback to the extractive answer (time to the final Answer)")
    print("fault                         QA_LLM_TIMEOUT  ask      stream   mode")
    faults: list[tuple[str, Callable[[], None]]] = [
        ("server hangs", lambda: server.script(*[Hang()] * 10)),
        ("HTTP 500, every attempt", lambda: server.script(*[Status(500)] * 10)),
        ("429 Retry-After: 120", lambda: server.script(Status(429, {"Retry-After": "120"}))),
    ]
    for timeout in timeouts:
        settings = assistant.settings.model_copy(update={"llm_timeout": timeout})
        a = Assistant(settings, embeddings=assistant.embeddings, index=assistant.index)
        for name, script in faults:
            took = []
            modes = set()
            for streaming in (False, True):
                server.reset()
                script()
                started = time.perf_counter()
                answer = list(a.stream(question))[-1] if streaming else a.ask(question)
                took.append(time.perf_counter() - started)
                assert isinstance(answer, Answer)
                modes.add(answer.mode)
            print(
                f"{name:<29} {timeout:>5.1f} s         {took[0]:5.2f} s  {took[1]:5.2f} s  "
                f"{'/'.join(sorted(modes))}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path, help="index of seeds/ (built when missing)")
    parser.add_argument("--model-ttft", type=float, default=0.3, help="the model's own, seconds")
    parser.add_argument("--chunk-delay", type=float, default=0.02, help="seconds between pieces")
    parser.add_argument("--timeouts", type=float, nargs="+", default=[2.0, 5.0])
    args = parser.parse_args()
    cases = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()]
    questions = [c["question"] for c in cases if c.get("question")]
    pacing = paced(args.model_ttft, args.chunk_delay)
    with tempfile.TemporaryDirectory() as tmp, LLMServer(default=pacing) as server:
        index_dir = args.index_dir or Path(tmp) / "index"
        if not (index_dir / "records.sqlite").exists():
            print(ingest.ingest([ROOT / "seeds"], settings=Settings(index_dir=index_dir)).summary())
        assistant = Assistant(
            Settings(index_dir=index_dir, llm_model="scripted", openai_base_url=server.base_url)
        )
        assistant.ask(questions[0])  # warm-up: model load, first connection
        overhead(assistant, server, questions)
        fallback(assistant, server, questions[0], args.timeouts)
        assistant.index.close()


if __name__ == "__main__":
    main()
