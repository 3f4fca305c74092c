"""The local model's answers against the floor: llama.cpp alone on the same prompts.

For each question, ours is ``Assistant.events`` with the bundled model (its server process,
queue, retrieval, prompt, HTTP streaming and the citation check): time to the first text
shown, and to the final ``Answer``. The floor is llama-cpp-python in this process, the same
model file, threads and context, given the very messages our prompt sent (rebuilt from the
answer's query and passages: the same evidence rows) under the same grammar, and writing as
many tokens as our model wrote: time to its first token, and to its last. Both keep llama.cpp's
cache of the previous prompt (the fixed system message), and run in turn, question by
question, so the machine's load falls on both alike.

    python -m bench.llm_speed [--index-dir DIR] [--questions N] [--passages K ...] [--timeout S]

The seed questions (tests/eval/seed_qa.jsonl, answerable ones) over an index of seeds/
(built when missing), ours with the default bound (``QA_LLM_TIMEOUT``, 30 s): an answer that
falls back for time is counted and named. Prints p50/p95 of both, their ratio, and tokens/s.
"""

from __future__ import annotations

import os

# The floor runs llama.cpp as our server does (qa/local/server.py): its OpenMP threads sleep,
# rather than spin, while they wait. Read when llama.cpp loads, so set before it is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import ingest
from qa import Answer, Assistant, Settings, extractive, reply
from qa.answer_types import asks_yes_or_no
from qa.evidence import build
from qa.llm import make_llm
from qa.local import default_threads, model_path

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "tests" / "eval" / "seed_qa.jsonl"
_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def questions(limit: int | None) -> list[str]:
    cases = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()]
    chosen = [c["question"] for c in cases if not c.get("unanswerable") and not c.get("history")]
    return chosen[:limit] if limit else chosen


def ours(assistant: Assistant, question: str) -> tuple[float, float, Answer]:
    """(seconds to the first text, seconds to the Answer, the Answer)."""
    started = time.perf_counter()
    first = None
    for event in assistant.events(question):
        if isinstance(event, str) and event and first is None:
            first = time.perf_counter() - started
        if isinstance(event, Answer):
            total = time.perf_counter() - started
            return (first if first is not None else total), total, event
    raise AssertionError("no Answer")


def floor(
    model: Any, messages: list[dict[str, str]], tokens: int, grammar: str | None = None
) -> tuple[float, float, int]:
    """(seconds to the first token, seconds to the last, tokens written) by llama.cpp alone."""
    from llama_cpp import LlamaGrammar

    started = time.perf_counter()
    first = None
    written = 0
    stream = model.create_chat_completion(
        messages,
        temperature=0.0,
        max_tokens=tokens,
        repeat_penalty=1.0,
        stream=True,
        grammar=LlamaGrammar.from_string(grammar, verbose=False) if grammar else None,
    )
    for chunk in stream:
        if chunk["choices"][0]["delta"].get("content"):
            written += 1  # llama-cpp streams one token a chunk
            if first is None:
                first = time.perf_counter() - started
    total = time.perf_counter() - started
    return (first if first is not None else total), total, written


def stats(name: str, values: list[float]) -> str:
    a = np.array(values)
    return f"{name:<22} p50 {np.median(a):6.2f} s   p95 {np.percentile(a, 95):6.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index-dir", type=Path, help="an index of seeds/ (default: built)")
    parser.add_argument("--questions", type=int, help="the first N seed questions only")
    parser.add_argument("--passages", type=int, nargs="*", default=[6], help="top_k to try")
    parser.add_argument("--timeout", type=float, default=30.0, help="QA_LLM_TIMEOUT, seconds")
    args = parser.parse_args()

    from llama_cpp import Llama

    index_dir = args.index_dir or Path(tempfile.mkdtemp(prefix="llm-speed-")) / "index"
    if not (index_dir / "records.sqlite").exists():
        ingest.ingest([ROOT / "seeds"], settings=Settings(index_dir=index_dir))
    base = Settings(index_dir=index_dir, local_model="bundled", llm_timeout=args.timeout)
    llm = make_llm(base)
    assert llm is not None and llm.local is not None
    llm.local.start()
    threads = base.local_threads or default_threads()
    path = model_path(base.local_model, base.cache_dir)
    alone = Llama(
        str(path),
        n_ctx=base.local_context_tokens,
        n_batch=512,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    asked = questions(args.questions)
    print(f"{len(asked)} questions, {threads} threads, model {path.name}")
    try:
        for k in args.passages:
            assistant = Assistant(base.model_copy(update={"top_k": k}), llm=llm)
            warm = ours(assistant, asked[0])[2]  # loads the model, the index, the embeddings
            floor(alone, _messages(base, warm)[0], 4)
            rows: dict[str, list[float]] = {k: [] for k in ("ttft", "total", "fttft", "ftotal")}
            written = prompt = 0
            for q in asked:
                ttft, total, answer = ours(assistant, q)
                if answer.mode != "llm":
                    print(f"  fell back: {q} ({answer.notice})")
                    continue
                messages, grammar = _messages(base, answer)
                prompt += len(alone.tokenize(_text(messages).encode()))
                fttft, ftotal, n = floor(alone, messages, base.llm_max_tokens, grammar)
                written += n
                rows["ttft"].append(ttft)
                rows["total"].append(total)
                rows["fttft"].append(fttft)
                rows["ftotal"].append(ftotal)
            n = len(rows["ttft"])
            print(f"\ntop_k={k}: {n} answers by the model, ~{prompt // max(n, 1)} prompt tokens")
            print(stats("ours, first text", rows["ttft"]))
            print(stats("floor, first token", rows["fttft"]))
            print(stats("ours, whole answer", rows["total"]))
            print(stats("floor, whole answer", rows["ftotal"]))
            for what, a, b in (("first", "ttft", "fttft"), ("whole", "total", "ftotal")):
                ratio = np.median(rows[a]) / np.median(rows[b])
                p95 = np.percentile(rows[a], 95) / np.percentile(rows[b], 95)
                print(f"ours/floor, {what:<5}   p50 {ratio:5.2f}x   p95 {p95:5.2f}x")
            gen = sum(rows["ftotal"]) - sum(rows["fttft"])
            print(f"floor generation: {written / max(gen, 1e-9):.1f} tokens/s ({written} tokens)")
    finally:
        llm.local.close()


def _messages(settings: Settings, answer: Answer) -> tuple[list[dict[str, str]], str]:
    """The prompt and grammar our model was given for ``answer`` (the same evidence rows)."""
    model = extractive.load_model(settings.extractive_model)
    evidence = build(answer.query, answer.passages, model, settings.llm_evidence_chars)
    yes_no = asks_yes_or_no(answer.query)
    shown = _plain(reply.messages(evidence, yes_no, settings.prompts_dir))
    return shown, reply.grammar(len(evidence.shown), yes_no)


def _plain(messages: list[Any]) -> list[dict[str, str]]:
    return [{"role": _ROLES[m.type], "content": str(m.content)} for m in messages]


def _text(messages: list[dict[str, str]]) -> str:
    return "\n".join(m["content"] for m in messages)


if __name__ == "__main__":
    main()
