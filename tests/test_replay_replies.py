"""bench.replay_replies: an evaluation re-run on recorded replies goes through the real check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import replay_replies

PARTNERS = "Which countries have emerged as Washington's key partners in this strategy?"
LEVERAGE = "How has China used its position in rare earth processing?"
UNRECORDED = "What share of global rare earth processing does China control?"


def _case(question: str, reply: str) -> dict[str, object]:
    return {"id": question[:12], "question": question, "query": question, "reply": reply}


def test_recorded_replies_are_checked_as_the_model_s_would_be(
    seed_index: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        "".join(
            json.dumps({"id": i, "question": q}) + "\n"
            for i, q in (("partners", PARTNERS), ("leverage", LEVERAGE), ("share", UNRECORDED))
        ),
        encoding="utf-8",
    )
    recorded = tmp_path / "report.json"
    replies = [
        _case(PARTNERS, "Japan and Australia have emerged as Washington's key partners [1]."),
        # Made up, and the model's one sentence: the quoted answer replaces it.
        _case(LEVERAGE, "China has used its position to build 40 new mines on the Moon [2]."),
        _case(UNRECORDED, ""),  # gated then: no reply to replay
    ]
    recorded.write_text(json.dumps({"cases": replies}), encoding="utf-8")
    monkeypatch.setenv("QA_INDEX_DIR", str(seed_index))
    out = tmp_path / "after"
    assert replay_replies.main([str(cases), str(recorded), "--report", str(out)]) == 0
    got = {c["id"]: c for c in json.loads((out / "report.json").read_text())["cases"]}
    partners, leverage = got["partners"], got["leverage"]
    assert partners["mode"] == "llm" and partners["reply"] == replies[0]["reply"]
    assert [c["quote"] for c in partners["citations"]] == [
        "Japan and Australia have emerged as Washington’s key partners in this strategy."
    ]
    assert leverage["mode"] == "extractive" and "not supported" in leverage["notice"]
    assert leverage["reply"] == replies[1]["reply"]
    printed = capsys.readouterr().out
    assert "replies recorded: 2; asked without one: 1" in printed


def test_a_report_without_replies_is_a_clear_error(tmp_path: Path) -> None:
    recorded = tmp_path / "report.json"
    recorded.write_text(json.dumps({"cases": [_case(PARTNERS, "")]}), encoding="utf-8")
    with pytest.raises(SystemExit, match="no model replies recorded"):
        replay_replies.main([str(tmp_path / "cases.jsonl"), str(recorded)])
