"""Thumbs up/down kept as evaluation cases: the feedback file loads and runs as one."""

from __future__ import annotations

import json
from pathlib import Path

from qa import Assistant
from qa.eval import evaluate, load_cases
from qa.feedback import FEEDBACK_FILE, FeedbackLog, feedback_case

CHINA = "What share of global rare earth processing does China control?"


def test_ratings_become_cases_that_evaluate(tmp_path: Path, seed_assistant: Assistant) -> None:
    log = FeedbackLog(tmp_path / FEEDBACK_FILE)
    good = seed_assistant.ask(CHINA)
    refused = seed_assistant.ask("Who won the 2022 FIFA World Cup?")
    follow_history = [
        {"role": "user", "content": "Which company is the largest rare earth supplier?"},
        {"role": "assistant", "content": "Lynas [1]"},
    ]
    follow = seed_assistant.ask("Where have its operations faced hurdles?", follow_history)
    log.put(feedback_case("up", CHINA, [], good, liked=True))
    log.put(feedback_case("refused-up", "Who won the 2022 FIFA World Cup?", [], refused, True))
    log.put(
        feedback_case(
            "down", "Where have its operations faced hurdles?", follow_history, follow, False
        )
    )
    log.put(
        feedback_case(
            "down", "Where have its operations faced hurdles?", follow_history, follow, False
        )
    )

    cases, warnings = load_cases(log.path)
    by_id = {c.id: c for c in cases}
    assert list(by_id) == ["up", "refused-up", "down"]  # rating again replaced the line
    assert warnings == [f"{log.path}: unknown field 'feedback' ignored (lines 1, 2, 3)"]
    assert by_id["up"].expected_sources == ("us-strikes-strategic-mineral-deals-in-asia.txt",)
    assert any("70 percent" in q for q in by_id["up"].expected_quotes)
    assert by_id["refused-up"].unanswerable
    assert by_id["down"].tags == ("feedback", "thumbs-down") and len(by_id["down"].history) == 2
    assert not by_id["down"].expected and not by_id["down"].unanswerable
    notes = json.loads(log.path.read_text(encoding="utf-8").splitlines()[0])["feedback"]
    assert notes["rating"] == "thumbs-up" and notes["answer"] == good.text

    run = evaluate(seed_assistant, [by_id["up"], by_id["refused-up"]], k=6)
    assert all(r.passed for r in run.results), [r.problems for r in run.results]

    log.remove("refused-up")
    assert [e["id"] for e in log.entries()] == ["up", "down"]


def test_a_line_broken_by_hand_is_kept(tmp_path: Path, seed_assistant: Assistant) -> None:
    path = tmp_path / FEEDBACK_FILE
    path.write_text('{"id": "mine", "question": "kept?"}\nnot json\n', encoding="utf-8")
    log = FeedbackLog(path)
    log.put(feedback_case("new", CHINA, [], seed_assistant.ask(CHINA), liked=False))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[:2] == ['{"id": "mine", "question": "kept?"}', "not json"] and len(lines) == 3
