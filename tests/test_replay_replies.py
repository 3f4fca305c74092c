"""bench.replay_replies: an evaluation re-run on recorded replies goes through the real check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import replay_replies
from qa import Settings, prompts

PARTNERS = "Which countries have emerged as Washington's key partners in this strategy?"
LEVERAGE = "How has China used its position in rare earth processing?"
UNRECORDED = "What share of global rare earth processing does China control?"
FIRST = "Which company is the largest rare earth supplier outside China?"
FOLLOW_UP = "Where have its operations faced hurdles?"
STANDALONE = "Where have Lynas Rare Earths' operations faced hurdles?"


def _case(question: str, reply: str, query: str = "") -> dict[str, object]:
    return {"id": question[:12], "question": question, "query": query or question, "reply": reply}


def test_recorded_replies_are_checked_as_the_model_s_would_be(
    seed_index: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cases = tmp_path / "cases.jsonl"
    history = [
        {"role": "user", "content": FIRST},
        # The earlier turn holds another case's question: only the exact one must match.
        {"role": "assistant", "content": f"Lynas. You also asked: {PARTNERS}"},
    ]
    lines = [
        {"id": i, "question": q}
        for i, q in (("partners", PARTNERS), ("leverage", LEVERAGE), ("share", UNRECORDED))
    ] + [
        {"id": "follow-up", "question": FOLLOW_UP, "history": history},
        {"id": "gated-follow-up", "question": "Did they sign anything?", "history": history},
    ]
    cases.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    recorded = tmp_path / "report.json"
    replies = [
        _case(PARTNERS, "Japan and Australia have emerged as Washington's key partners [1]."),
        # Made up, and the model's one sentence: the quoted answer replaces it.
        _case(LEVERAGE, "China has used its position to build 40 new mines on the Moon [2]."),
        _case(UNRECORDED, ""),  # gated then: no reply to replay
        _case(
            FOLLOW_UP, "Its operations in Malaysia have faced regulatory hurdles [1].", STANDALONE
        ),
        # Rewritten, then not answered by the model: its rewriting is still what was recorded.
        _case("Did they sign anything?", "", "Did Lynas sign anything?"),
    ]
    recorded.write_text(json.dumps({"cases": replies}), encoding="utf-8")
    monkeypatch.setenv("QA_INDEX_DIR", str(seed_index))
    out = tmp_path / "after"
    assert replay_replies.main([str(cases), str(recorded), "--report", str(out)]) == 0
    got = {c["id"]: c for c in json.loads((out / "report.json").read_text())["cases"]}
    partners, leverage, share, follow_up = (
        got[i] for i in ("partners", "leverage", "share", "follow-up")
    )
    assert partners["mode"] == "llm" and partners["reply"] == replies[0]["reply"]
    assert [c["quote"] for c in partners["citations"]] == [
        "Japan and Australia have emerged as Washington’s key partners in this strategy."
    ]
    assert leverage["mode"] == "extractive" and "not supported" in leverage["notice"]
    assert leverage["reply"] == replies[1]["reply"] and not leverage["refused"]
    assert leverage["citations"]  # quoted, not refused
    assert share["mode"] == "extractive" and "its reply was empty" in share["notice"]
    # The follow-up was rewritten as recorded, then answered with its own reply.
    assert follow_up["query"] == STANDALONE and follow_up["mode"] == "llm"
    assert follow_up["reply"] == replies[3]["reply"]
    assert got["gated-follow-up"]["query"] == "Did Lynas sign anything?"
    printed = capsys.readouterr().out
    assert "replies recorded: 3; asked without one: " in printed


def test_a_report_without_replies_is_a_clear_error(tmp_path: Path) -> None:
    recorded = tmp_path / "report.json"
    recorded.write_text(json.dumps({"cases": [_case(PARTNERS, "")]}), encoding="utf-8")
    with pytest.raises(SystemExit, match="no model replies recorded"):
        replay_replies.main([str(tmp_path / "cases.jsonl"), str(recorded)])


def test_a_run_asked_with_other_prompts_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its replies answer a prompt the model would not be shown now."""
    recorded = tmp_path / "report.json"
    meta = {"settings": {}, "prompts": prompts.digest()}
    report = {"meta": meta, "cases": [_case(PARTNERS, "Japan and Australia [1].")]}
    recorded.write_text(json.dumps(report), encoding="utf-8")
    assert replay_replies._same_setup(report, Settings()) == []
    mine = tmp_path / "prompts"
    mine.mkdir()
    (mine / "answer.yaml").write_text("system: Be brief.\nuser: 'Q: {{ question }}'\n")
    monkeypatch.setenv("QA_PROMPTS_DIR", str(mine))
    with pytest.raises(SystemExit, match=r"prompt files: \w+ then, \w+ now"):
        replay_replies.main([str(tmp_path / "cases.jsonl"), str(recorded)])
