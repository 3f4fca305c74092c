"""Fit the two bars of what is shown of the model's answer, on recorded replies; report any run.

The bars (qa/pipeline.py): the refusal gate (``QA_LLM_GATE_THRESHOLD``: no evidence row even
this likely to answer, the model is not asked) and the cited rows' bar
(``QA_LLM_CITED_THRESHOLD``: the model's answer is shown only when a row it cites is this
likely to answer; else the quoted answer, which refuses below the extractive threshold).
Both are probabilities of the extractive model, read off the one evidence table.

Each case of a recorded evaluation (``python -m qa eval … --mode llm --report DIR``, run with
``QA_LLM_REFUSAL_GATE=0`` so that every question has a reply) is answered once more from its
recorded reply through the real steps (retrieve, parse, check, quote); then every pair of bars
is scored without asking anything again. The pair chosen is the one with the best balanced
accuracy (answerable questions answered, unanswerable refused), averaged over the runs given,
ties to the higher key facts / token F1, then to the lower bars.

    python -m bench.fit_decision CASES REPORT.json [CASES REPORT.json …] [--answers A.jsonl]
    python -m bench.fit_decision … --gate 0.02 --cited 0.1     # report these bars only

``--answers`` gives CLAP NQ's reference answers (bench.clapnq_cases), scored by token F1;
other cases are scored by their key facts.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa import Assistant, Settings, reply, support
from qa.answer_types import asks_yes_or_no
from qa.eval import load_cases
from qa.eval.cases import Case
from qa.eval.metrics import has_fact
from qa.evidence import SentenceVectors
from qa.extractive import load_model
from qa.pipeline import Parts, compose, quote, retrieve

from .clapnq_data import token_f1

GATES = (0.0, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.16)
CITED = tuple(np.round(np.arange(0.0, 0.91, 0.02), 2))


@dataclass(frozen=True)
class Outcome:
    """One case, answered every way the bars can decide."""

    case: Case
    best: float  # the best row's probability (the gate reads it)
    cited: float  # the best probability among the rows the model's answer cites; -1: none
    refused_by_model: bool
    model_text: str | None  # the model's checked answer; None: the reply was not valid
    quoted_text: str | None  # the quoted answer; None: it refuses
    reference: str | None  # CLAP NQ's answer, when given


def outcomes(cases_file: Path, recorded: Path, answers: dict[str, str]) -> list[Outcome]:
    report = json.loads(recorded.read_text(encoding="utf-8"))
    by_id = {c["id"]: c for c in report["cases"]}
    index_dir = report["meta"]["index_dir"]
    settings = Settings(index_dir=index_dir, answer_mode="llm", llm_cited_threshold=0.0)
    assistant = Assistant(settings)
    parts = Parts(
        llm=None, settings=settings, vectors=SentenceVectors(assistant.embeddings),
        extractive=load_model(),
        search=lambda q: assistant.search(q, settings.top_k), scorer=support.load_scorer(),
    )  # fmt: skip
    cases, _ = load_cases(cases_file)
    out = []
    for case in cases:
        got = by_id.get(case.id)
        if got is None:
            continue
        evidence = retrieve(parts, got["query"] or case.question)
        read = reply.parse(got["reply"], len(evidence.shown), asks_yes_or_no(evidence.question))
        checked = support.check(read.claims, evidence, parts.vectors, parts.scorer) if read else []
        cited = max((r.probability for c in checked for r in c.rows), default=-1.0)
        quoted = quote(parts, evidence, "")
        text = compose(read.verdict, checked)[0] if read else None
        out.append(
            Outcome(case, evidence.best, cited, bool(read and read.refused), text,
                    None if quoted.refused else quoted.text, answers.get(case.id))
        )  # fmt: skip
    assistant.index.close()
    return out


def shown(o: Outcome, gate: float, cited: float) -> str | None:
    """What the answer says under these bars; None: a refusal."""
    if o.best < gate or o.refused_by_model:
        return None
    if o.model_text is None or o.cited < max(cited, 0.0) or not o.model_text:
        return o.quoted_text
    return o.model_text


def score(items: Sequence[Outcome], gate: float, cited: float) -> dict[str, float]:
    answerable = [o for o in items if not o.case.unanswerable]
    unanswerable = [o for o in items if o.case.unanswerable]
    said = {id(o): shown(o, gate, cited) for o in items}
    answered = np.mean([said[id(o)] is not None for o in answerable]) if answerable else 1.0
    refused = np.mean([said[id(o)] is None for o in unanswerable]) if unanswerable else 1.0
    quality = [_quality(o, said[id(o)]) for o in answerable]
    return {
        "balanced": float((answered + refused) / 2),
        "quality": float(np.mean(quality)) if quality else 0.0,
        "false_refusals": float(1 - answered),
        "refusal": float(refused),
    }


def _quality(o: Outcome, text: str | None) -> float:
    """Token F1 against the reference when there is one, else the share of key facts."""
    if text is None:
        return 0.0
    if o.reference is not None:
        return token_f1(text, o.reference)
    facts = o.case.expected
    if not facts:
        return 1.0
    found = [has_fact(text, f) for f in facts]
    return float(all(found) if o.case.match == "all" else any(found))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="CASES REPORT.json pairs")
    parser.add_argument("--answers", type=Path, help="CLAP NQ answers.jsonl")
    parser.add_argument("--gate", type=float, help="report this gate only")
    parser.add_argument("--cited", type=float, help="report this cited bar only")
    args = parser.parse_args(argv)
    answers = _answers(args.answers)
    pairs = list(zip(args.runs[::2], args.runs[1::2], strict=True))
    sets = [outcomes(Path(c), Path(r), answers) for c, r in pairs]
    grid = [(g, c) for g in GATES for c in CITED]
    if args.gate is not None and args.cited is not None:
        grid = [(args.gate, args.cited)]

    def mean(gate: float, cited: float, key: str) -> float:
        return float(np.mean([score(s, gate, cited)[key] for s in sets]))

    ranked = sorted(
        grid, key=lambda gc: (mean(*gc, "balanced"), mean(*gc, "quality"), -gc[0], -gc[1])
    )
    for gc in ranked[-8:]:
        print(f"  gate {gc[0]:.2f} cited {gc[1]:.2f}: balanced {mean(*gc, 'balanced'):.3f} "
              f"quality {mean(*gc, 'quality'):.3f}")  # fmt: skip
    best = ranked[-1]
    print(f"chosen: gate {best[0]}, cited {best[1]}")
    for (_, recorded), items in zip(pairs, sets, strict=True):
        s = score(items, *best)
        print(
            f"{recorded}: {len(items)} cases  balanced {s['balanced']:.3f}  quality "
            f"{s['quality']:.3f}  false refusals {s['false_refusals']:.3f}  "
            f"refusal {s['refusal']:.3f}"
        )


def _answers(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return {r["id"]: r["answer"] for r in rows}


if __name__ == "__main__":
    main()
