"""``python -m qa ask "question" [--json]``, ``python -m qa chat``, ``python -m qa eval`` and
``python -m qa model`` (assemble and verify the local model, once; ``make install`` runs it).

Exit status: 0 answered (or refused: the documents do not answer), 2 bad question or settings;
``eval`` also exits 1 on a regression against ``--compare`` (see qa/eval/cli.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from ingest.settings import SettingsError
from ingest.store import IndexMismatchError, IndexNotFoundError

from .assistant import Assistant
from .eval import cli as eval_cli
from .local import cli as local_cli
from .settings import Settings
from .types import Answer


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m qa", description="Answers with cited passages.")
    p.add_argument("--index-dir", help="index folder (default: $QA_INDEX_DIR or .qa_index)")
    sub = p.add_subparsers(dest="command", required=True)
    ask = sub.add_parser("ask", help="answer one question")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    ask.add_argument("--mode", choices=["auto", "extractive", "llm"], help="answer mode")
    chat = sub.add_parser("chat", help="start the web chat (Gradio)")
    chat.add_argument("--host", help="address to bind (default 127.0.0.1)")
    chat.add_argument("--port", type=int, help="port (default 7860)")
    eval_cli.add_arguments(sub.add_parser("eval", help="evaluate on a JSONL file of cases"))
    sub.add_parser("model", help="assemble and verify the local model file (once), show it")
    return p


def format_answer(answer: Answer) -> str:
    """The answer and, under it, each cited passage with where it is in its source."""
    lines = [answer.text]
    if answer.notice:
        lines += ["", f"Note: {answer.notice}"]
    if answer.unsupported:
        lines += ["", "Not supported by the cited passages:"]
        lines += [f"- {s}" for s in answer.unsupported]
    if answer.citations:
        lines += ["", "Sources:"]
        for c in answer.citations:
            where = f"p. {c.page}, " if c.page is not None else ""
            lines.append(f"[{c.n}] {c.source} ({where}chars {c.start}-{c.end}): “{c.quote}”")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        overrides = {"index_dir": args.index_dir}
        if args.command == "model":
            return local_cli.prepare(Settings.load(**overrides))
        if args.command == "ask":
            overrides["answer_mode"] = args.mode
            assistant = Assistant(Settings.load(**overrides))
            model = assistant.llm if assistant.settings.answer_mode != "extractive" else None
            if model is not None and model.local is not None:
                model.local.start()  # loads while the embedding model and index load
            answer = assistant.ask(args.question)
            if args.json:
                data = answer.to_dict()
                data.pop("passages")
                print(json.dumps(data, ensure_ascii=False, indent=2))
            else:
                print(format_answer(answer))
            return 0
        if args.command == "eval":
            return eval_cli.run(args, Settings.load(**overrides, answer_mode=args.mode))
        from .ui import serve  # gradio is imported only for the web app

        overrides |= {"host": args.host, "port": args.port}
        return serve(Settings.load(**overrides))
    except (ValueError, SettingsError, IndexNotFoundError, IndexMismatchError) as err:
        # CaseFileError is a ValueError: its message lists every bad line.
        print(f"error: {err}", file=sys.stderr)
        return 2
