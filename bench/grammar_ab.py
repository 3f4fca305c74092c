"""The local model's reply written under its grammar, against the same form as free text.

The answer path asks the local model to write in one form (sentences ending in [ids], a
verdict first, or NOT_IN_DOCUMENTS, qa/reply.py) and holds it to that form with a grammar.
An endpoint without grammars writes the same form freely and is read strictly: a reply out of
form gives the quoted answer. This asks every case twice through the whole answer path, the
same model process, prompt and evidence, the grammar on and off (alternating which goes first,
so that the host's drift falls on both), and prints what each form scores.

    python -m bench.grammar_ab CASES --index-dir DIR [--report out/grammar-ab]

Run it alone: on 2 cores a second job doubles the model's times.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from qa import Assistant, Settings
from qa.eval import evaluate, load_cases
from qa.eval.report import write
from qa.eval.runner import EvalRun
from qa.llm import make_llm
from qa.pipeline import INVALID_NOTICE

FORMS = ("grammar", "free")
SHOWN = ("key_fact_recall", "citation_precision", "refusal_recall", "false_refusal_rate",
         "offsets_exact", "latency_p50")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("cases", type=Path)
    p.add_argument("--index-dir", type=Path, required=True)
    p.add_argument("--timeout", type=float, default=600, help="QA_LLM_TIMEOUT here")
    p.add_argument("--report", type=Path, help="write each form's report.json here")
    args = p.parse_args(argv)
    settings = Settings.load().model_copy(
        update={"index_dir": args.index_dir, "answer_mode": "llm", "llm_timeout": args.timeout}
    )
    model = make_llm(settings)
    if model is None or model.local is None:
        raise SystemExit("the local model is off (QA_LOCAL_MODEL): nothing to compare")
    on = Assistant(settings, llm=model)
    free = dataclasses.replace(model, grammar=False)  # the same process, no grammar sent
    off = Assistant(settings, embeddings=on.embeddings, llm=free)
    assistants = {"grammar": on, "free": off}
    cases, _ = load_cases(args.cases)
    runs: dict[str, list[EvalRun]] = {form: [] for form in FORMS}
    for i, case in enumerate(cases):
        order = FORMS if i % 2 == 0 else FORMS[::-1]
        for form in order:
            runs[form].append(evaluate(assistants[form], [case]))
        print(f"  {i + 1}/{len(cases)}", flush=True)
    model.local.close()
    print("| form | " + " | ".join(SHOWN) + " | model's answer shown | out of form |")
    print("|---" * (len(SHOWN) + 3) + "|")
    for form in FORMS:
        merged = evaluate_merged(runs[form])
        if args.report:
            write(merged, args.report / form)
        s = merged["summary"]
        answers = merged["cases"]
        shown = sum(c.get("mode") == "llm" for c in answers)
        invalid = sum(INVALID_NOTICE in (c.get("notice") or "") for c in answers)
        cells = " | ".join("–" if s.get(k) is None else f"{s[k]:.3f}" for k in SHOWN)
        print(f"| {form} | {cells} | {shown}/{len(answers)} | {invalid} |")


def evaluate_merged(runs: list[EvalRun]) -> dict[str, Any]:
    """One report of single-case runs: their cases together, scored again as one run."""
    return EvalRun([r for run in runs for r in run.results], runs[0].meta).to_dict()


if __name__ == "__main__":
    main()
