"""Answers to MultiHop-RAG queries, written by the model and quoted, on a fixed dev sample.

The sample: 200 dev-split queries, null ones included, drawn once with a fixed seed (the same
200 every run). Each is asked through ``Assistant.ask`` in each mode over one index of the
609 articles. Scores:
- accuracy: the gold short answer ("Yes", "Sam Altman", …) found as whole words in the
  answer text (case and punctuation aside); a null query ("Insufficient information.") is
  answered right by a refusal;
- the benchmark's own looser score (its qa_evaluate.py): any whitespace-separated word the
  lower-cased answer shares with the lower-cased gold answer; a refusal is read as the
  benchmark's "Insufficient information." (its convention for "the documents do not say").
The paper's GPT-4 with retrieved chunks scored 0.56 on the looser score (Tang & Yang 2024).

    python -m bench.multihop_answers [--work-dir DIR] [--sample 200] [--modes llm extractive]
    python -m bench.multihop_answers --replay out/multihop-answers/answers-llm.jsonl

``--resume`` keeps the answers a stopped run already wrote and asks only the rest.
``--replay`` asks the queries of an earlier run's answers file again, the model's replies
recorded there coming back instead of the model's (bench/replay_replies.py): a change to the
gate or the check measured in a minute. Valid while what the model is shown is unchanged.

Building the index takes ~10 minutes on 2 cores (kept in the work dir); each model answer
~10 s on 2 quiet cores.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

import ingest
from qa import Answer, Assistant, Settings

from .multihop_data import is_dev, queries, write_articles
from .replay_replies import RecordedReplies

SEED = 20231130
REFUSAL_AS = "insufficient information."
PAPER_GPT4 = 0.56


def sample(n: int) -> list[dict[str, Any]]:
    dev = [q for q in queries() if is_dev(q["query"])]
    return random.Random(SEED).sample(dev, n)


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+(?:['.][a-z0-9]+)*", text.lower()))


def accurate(answer: Answer, gold: str, null: bool) -> bool:
    if null:
        return answer.refused
    if answer.refused:
        return False
    target = _words(gold.strip().rstrip("."))
    return bool(target) and re.search(rf"(?<!\S){re.escape(target)}(?!\S)", _words(answer.text))


def loose(text: str, refused: bool, gold: str) -> bool:
    """qa_evaluate.py's has_intersection on lower-cased text."""
    said = REFUSAL_AS if refused else text.lower()
    return bool(set(said.split()) & set(gold.lower().split()))


def record(q: dict[str, Any], a: Answer) -> dict[str, Any]:
    """One answer as the answers file keeps it (its reply and passages, for a replay)."""
    return {
        "query": q["query"],
        "type": q["question_type"],
        "gold": q["answer"],
        "answer": a.text,
        "refused": a.refused,
        "mode": a.mode,
        "notice": a.notice,
        "right": bool(accurate(a, q["answer"], q["question_type"] == "null_query")),
        "reply": a.reply,
        "passages": [asdict(p) for p in a.passages],
    }


def kept(path: Path) -> dict[str, dict[str, Any]]:
    """The answers an earlier run wrote to ``path`` (a stopped run's complete lines)."""
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # the line a stopped run was writing
        out[row["query"]] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", type=Path, default=Path("out/multihop-answers"))
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--modes", nargs="+", default=["llm", "extractive"])
    parser.add_argument("--top-k", type=int, help="passages an answer draws on (QA_TOP_K)")
    parser.add_argument("--timeout", type=float, default=600, help="QA_LLM_TIMEOUT here")
    parser.add_argument("--replay", type=Path, help="an answers file whose replies to reuse")
    parser.add_argument(
        "--resume", action="store_true", help="keep the answers already in the answers file"
    )
    args = parser.parse_args()
    recorded = None
    if args.replay:
        then = kept(args.replay)
        recorded = RecordedReplies(replies={q: r["reply"] for q, r in then.items() if r["reply"]},
                                   queries={})  # fmt: skip
        args.modes = ["llm"]

    index_dir = args.work_dir / "index"
    if not (index_dir / "records.sqlite").exists():
        write_articles(args.work_dir / "articles")
        ingest.ingest([args.work_dir / "articles"], settings=Settings(index_dir=index_dir))
    chosen = sample(args.sample)
    if recorded is not None:
        chosen = [q for q in chosen if q["query"] in then]
    kinds = sorted({q["question_type"] for q in chosen})
    print(
        f"{len(chosen)} dev queries: "
        + ", ".join(f"{k} {sum(q['question_type'] == k for q in chosen)}" for k in kinds)
    )
    rows = []
    for mode in args.modes:
        overrides: dict[str, Any] = {"answer_mode": mode, "llm_timeout": args.timeout}
        if args.top_k:
            overrides["top_k"] = args.top_k
        assistant = Assistant(Settings(index_dir=index_dir, **overrides), chat_model=recorded)
        out = args.work_dir / f"answers-{mode}{'-replayed' if recorded else ''}.jsonl"
        by_kind: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
        started = time.perf_counter()
        fell_back = 0
        earlier = kept(out) if args.resume else {}
        new = 0  # answers asked in this run
        # The kept answers are written first, so that stopping again loses none of them.
        ordered = sorted(chosen, key=lambda q: q["query"] not in earlier)
        with out.open("w", encoding="utf-8") as f:
            for i, q in enumerate(ordered, 1):
                row = earlier.get(q["query"])
                if row is None:
                    row = record(q, assistant.ask(q["query"]))
                    new += 1
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                f.flush()  # a stopped run keeps what it answered (--resume)
                fell_back += mode == "llm" and row["mode"] != "llm"
                right = bool(row["right"])
                by_kind[row["type"]].append(
                    (right, loose(row["answer"], row["refused"], q["answer"]))
                )
                if i % 20 == 0:
                    print(f"  {mode}: {i}/{len(chosen)}", flush=True)
        seconds = (time.perf_counter() - started) / max(1, new)
        assistant.close()
        every = [x for v in by_kind.values() for x in v]
        rows.append((mode, by_kind, every, seconds, fell_back))
    print(
        "\n| mode | accuracy | loose (qa_evaluate.py) | "
        + " | ".join(kinds)
        + " | s/question | fell back |"
    )
    print("|---" * (len(kinds) + 5) + "|")
    for mode, by_kind, every, seconds, fell_back in rows:
        acc = sum(r for r, _ in every) / len(every)
        lo = sum(x for _, x in every) / len(every)
        per = " | ".join(f"{sum(r for r, _ in by_kind[k]) / len(by_kind[k]):.3f}" for k in kinds)
        print(f"| {mode} | {acc:.3f} | {lo:.3f} | {per} | {seconds:.1f} | {fell_back} |")
    print(f"(the paper's GPT-4 with retrieved chunks: {PAPER_GPT4} on the looser score)")


if __name__ == "__main__":
    main()
