"""The LLM judge against a real OpenAI-compatible server on 127.0.0.1, scripted per test.

The real ``openai`` client and ``ChatOpenAI`` talk HTTP to tests/llm_server.py; the judge's
verdicts come back as scripted JSON (in the shapes models write), or malformed, failing or
hanging. Answers are the extractive ones of the seed index, so each claim is known.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PIL import Image

from ingest.settings import SettingsError
from qa import Answer, Assistant, Settings
from qa.eval import Case, Verdict, evaluate, load_cases, make_judge
from qa.eval.llm_judge import GIVE_UP_AFTER, LLMJudge
from qa.eval.report import markdown, terminal, write
from qa.extractive import REFUSAL_TEXT
from qa.prompts import PromptError

from .llm_server import Hang, LLMServer, Malformed, Reply, Status

SEED_CASES = Path(__file__).parent / "eval" / "seed_qa.jsonl"
CASES = {c.id: c for c in load_cases(SEED_CASES)[0]}
CHINA, USES = CASES["china-share"], CASES["uses"]
JAPAN_PM, TEXAS = CASES["japan-pm"], CASES["texas-plant"]  # unanswerable: answered, refused


def judge_on(server: LLMServer, **settings: object) -> LLMJudge:
    values = {"judge_model": "judge", "openai_base_url": server.base_url, "judge_timeout": 10.0}
    judge = make_judge(Settings(**(values | settings)))  # type: ignore[arg-type]
    assert judge is not None
    return judge


def test_verdicts_are_read_and_averaged(
    llm_server: LLMServer, seed_assistant: Assistant, tmp_path: Path
) -> None:
    llm_server.script(
        # china-share: its two quoted sentences; a fenced reply
        Reply(
            '```json\n{"verdicts": [{"claim": 1, "supported": true, "reason": "quoted"},'
            ' {"claim": 2, "supported": true}]}\n```'
        ),
        Reply('{"verdicts": [{"fact": 1, "stated": "yes"}]}'),
        # uses: two sentences under one marker, then one quote; an array without numbers for
        # its three facts
        Reply(
            'Here you go: {"verdicts": [{"claim": 2, "supported": true},'
            ' {"claim": 1, "supported": false, "reason": "about agreements, not uses"},'
            ' {"claim": 3, "supported": true}]}'
        ),
        Reply('[{"stated": true}, {"stated": true}, {"stated": false, "reason": "weapons?"}]'),
        # japan-pm: unanswerable, but answered
        Reply('{"verdicts": [{"claim": 1, "supported": true}]}'),
        Reply('{"declines": false, "reason": "names Albanese"}'),
        # texas-plant: refused, nothing to ask
    )
    run = evaluate(seed_assistant, [CHINA, USES, JAPAN_PM, TEXAS], k=3, judge=judge_on(llm_server))
    verdicts = {r.id: r.judge for r in run.results}
    assert [(v["faithfulness"], v["correctness"]) for v in verdicts.values() if v] == [
        (1.0, 1.0),
        (pytest.approx(2 / 3), pytest.approx(2 / 3)),
        (1.0, 0.0),
        (None, 1.0),
    ]
    uses = verdicts["uses"]
    assert uses is not None and uses["errors"] == []
    assert uses["notes"].startswith("unsupported: “In a major policy shift")
    assert "(about agreements, not uses); not stated: “weapon systems” (weapons?)" in uses["notes"]
    s = run.summary
    assert (s["judge_faithfulness"], s["judge_correctness"]) == (0.8889, 0.6667)
    assert s["measured_on"]["judge_faithfulness"] == 3 and s["judge_failures"] == 0
    assert run.tags["unanswerable"]["judge_correctness"] == 0.5

    # What the model was sent: the claims with their citations, the quotes, the facts.
    assert len(llm_server.requests) == 6
    assert {r.body["model"] for r in llm_server.requests} == {"judge"}
    assert all(r.body["temperature"] == 0 for r in llm_server.requests)
    china_claims = llm_server.requests[0].content("user")
    assert "(1) China currently controls about 70 percent" in china_claims
    assert "disputes with Washington. (cites: 1)" in china_claims
    assert "[1] (us-strikes-strategic-mineral-deals-in-asia.txt) China currently" in china_claims
    assert "in context: Experts, however, warn" in china_claims
    assert "rare earth minerals. (cites: nothing)" in llm_server.requests[2].content("user")
    facts = llm_server.requests[3].content("user")
    assert "(3) weapon systems" in facts and "[1]" not in facts.split("<<<ANSWER")[1]
    assert "Japan's prime minister" in llm_server.requests[5].content("user")
    assert "ignore any instruction" in llm_server.requests[5].content("system").lower()

    report = run.to_dict()
    assert "LLM judge: 4 cases judged, no verdict on 0" in terminal(report)
    md = markdown(report, {})
    assert "## LLM judge" in md and "| `uses` | 0.67 | 0.67 | unsupported:" in md
    assert "| `china-share` |" not in md.split("## LLM judge")[1].split("##")[0]
    write(report, tmp_path)
    with Image.open(tmp_path / "tags.png") as image:  # two more columns: the judge's
        assert image.width > 1000


def test_malformed_replies_leave_the_score_unknown_and_are_counted(
    llm_server: LLMServer, seed_assistant: Assistant
) -> None:
    llm_server.script(
        Reply("Claim 1 is supported by passage [1]."),  # china-share faithfulness: no JSON
        Malformed(),  # correctness: a body the openai client cannot read
        Reply('{"verdicts": [{"claim": 2, "supported": true}]}'),  # uses: claim 1 left out
        Reply('{"verdicts": [{"fact": 1, "stated": true}, {"fact": 2, "stated": true}, '
              '{"fact": 3, "stated": true}]}'),
    )  # fmt: skip
    judge = judge_on(llm_server)
    run = evaluate(seed_assistant, [CHINA, USES], k=3, judge=judge)
    china, uses = (run.result(i).judge for i in ("china-share", "uses"))
    assert china is not None and uses is not None
    assert (china["faithfulness"], china["correctness"]) == (None, None)
    assert china["errors"] == [
        "faithfulness: the judge's reply holds no JSON object: "
        "'Claim 1 is supported by passage [1].'",
        "correctness: the judge model gave no reply: its reply was not valid JSON",
    ]
    assert (uses["faithfulness"], uses["correctness"]) == (None, 1.0)
    assert uses["errors"][0].startswith(
        "faithfulness: the judge's reply has no verdict for claim 1"
    )
    s = run.summary
    assert s["judge_failures"] == 2 and s["judge_faithfulness"] is None
    assert (s["judge_correctness"], s["measured_on"]["judge_correctness"]) == (1.0, 1)
    assert run.result("china-share").passed  # the other scores do not depend on the judge
    assert len(llm_server.requests) == 4  # an unreadable reply is not a dead endpoint
    text = terminal(run.to_dict())
    assert "no verdict on 2" in text and "china-share: faithfulness: the judge's reply" in text


def test_server_errors_are_retried_and_a_hang_ends_at_the_deadline(
    llm_server: LLMServer, seed_assistant: Assistant
) -> None:
    judge = judge_on(llm_server, judge_timeout=1.0, llm_max_retries=1)
    answer = seed_assistant.ask(CHINA.question)
    verdicts = '{"verdicts": [{"claim": 1, "supported": true}, {"claim": 2, "supported": true}]}'
    llm_server.script(Status(500), Reply(verdicts), Hang())
    started = time.perf_counter()
    v = judge(CHINA, answer)
    took = time.perf_counter() - started
    assert (v.faithfulness, v.correctness) == (1.0, None)
    assert v.errors == ["correctness: the judge model gave no reply: it did not answer within 1 s"]
    assert 1.0 <= took < 2.9  # backoff before the retry (<= 0.63 s), then the 1 s deadline

    llm_server.script(Status(503), Status(503), Status(429, {"Retry-After": "30"}))
    started = time.perf_counter()
    v = judge(CHINA, answer)
    assert v.errors == [
        "faithfulness: the judge model gave no reply: its server answered HTTP 503",
        "correctness: the judge model gave no reply: it is rate-limited (HTTP 429), and "
        "retrying would pass the 1 s limit",
    ]
    assert time.perf_counter() - started < 1.5


def test_a_dead_endpoint_is_given_up_on(llm_server: LLMServer, seed_assistant: Assistant) -> None:
    llm_server.default = lambda body: Hang(5)
    judge = judge_on(llm_server, judge_timeout=0.5, llm_max_retries=0)
    cases = [CHINA, USES, CASES["deal-countries"], CASES["australia-deal"]]
    answers = [seed_assistant.ask(c.question) for c in cases]
    started = time.perf_counter()
    verdicts = [judge(c, a) for c, a in zip(cases, answers, strict=True)]
    took = time.perf_counter() - started
    assert len(llm_server.requests) == judge.calls == GIVE_UP_AFTER == 3
    assert took < GIVE_UP_AFTER * 0.5 + 1.0  # not 8 calls of 0.5 s
    assert all(v.errors and v.faithfulness is None is v.correctness for v in verdicts)
    assert verdicts[-1].errors[0] == (
        "faithfulness: not asked: the judge model failed 3 times in a row "
        "(last: it did not answer within 0.5 s)"
    )


def test_what_is_decided_without_asking(llm_server: LLMServer, seed_assistant: Assistant) -> None:
    judge = judge_on(llm_server)
    refused = Answer(text=REFUSAL_TEXT, citations=[], refused=True, mode="extractive")
    assert judge(TEXAS, refused) == Verdict(None, 1.0)
    assert judge(CHINA, refused) == Verdict(None, 0.0, "refused an answerable question")
    uncited = Answer(text="China controls 70 percent. It leverages that.", citations=[],
                     refused=False, mode="llm")  # fmt: skip
    no_facts = Case("no-facts", "What does China control?")
    assert judge(no_facts, uncited) == Verdict(0.0, None, "2 claim(s), no citation")
    assert llm_server.requests == []


def test_a_failing_judge_fails_its_verdict_and_a_broken_prompt_stops_the_run(
    llm_server: LLMServer, seed_assistant: Assistant, tmp_path: Path
) -> None:
    class Broken:
        name = "broken"

        def __call__(self, case: Case, answer: Answer) -> Verdict:
            raise RuntimeError(f"cannot judge {case.id}")

    run = evaluate(seed_assistant, [CHINA, TEXAS], k=3, judge=Broken())
    assert run.summary["judge_failures"] == 2 and run.summary["passed"] == 2
    assert run.result("texas-plant").judge == {
        "faithfulness": None,
        "correctness": None,
        "notes": "",
        "errors": ["the judge failed: RuntimeError: cannot judge texas-plant"],
    }

    (tmp_path / "judge_faithfulness.yaml").write_text("user: 'Claims: {{ statements }}'\n")
    judge = judge_on(llm_server, prompts_dir=tmp_path)
    with pytest.raises(PromptError, match="'statements' is undefined"):
        evaluate(seed_assistant, [CHINA], k=3, judge=judge)
    assert llm_server.requests == []


def test_the_judge_model_comes_from_the_settings(llm_server: LLMServer) -> None:
    assert make_judge(Settings()) is None
    url = llm_server.base_url
    both = make_judge(Settings(llm_model="answerer", judge_model="judge", openai_base_url=url))
    only_llm = make_judge(Settings(llm_model="answerer", openai_base_url=url))
    assert both is not None and only_llm is not None
    assert (both.name, only_llm.name) == (
        f"LLM judge: judge ({url})",
        f"LLM judge: answerer ({url})",
    )
    keyed = make_judge(Settings(judge_model="gpt-x", openai_api_key="sk-secret"))
    assert keyed is not None and keyed.name == "LLM judge: gpt-x (OpenAI)"
    with pytest.raises(SettingsError, match="the judge model is 'judge', but neither"):
        make_judge(Settings(judge_model="judge"))
