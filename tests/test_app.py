"""The web app's API over real HTTP (gradio_client), and its parts: rendering, streaming
handler, access rules. The page itself is driven in a real browser in test_browser.py."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client

from bench import load as bench_load
from ingest.settings import SettingsError
from qa import Answer, Assistant, Citation, Passage, Settings
from qa.cli import main as qa_main
from qa.ui import chat
from qa.ui.access import check_exposure, credentials, is_loopback
from qa.ui.render import Turn, answer_html, documents_html, sources_html, surrounding

from .conftest import SEED_FILE
from .llm_server import LLMServer, Reply, evidence_in, is_condense, question_in
from .webapp import PLANTED, client, serving

CHINA = "What share of global rare earth processing does China control?"
CHINA_QUOTE = "China currently controls about 70 percent of global rare earth processing"


@pytest.fixture(scope="module")
def app_url(seed_assistant: Assistant) -> Iterator[str]:
    with serving(seed_assistant) as url:
        yield url


@pytest.fixture(scope="module")
def api(app_url: str) -> Client:
    return client(app_url)


def test_api_answers_with_citations_as_json(api: Client) -> None:
    """The README's example: one question, the answer as JSON."""
    answer = api.predict(question=CHINA, api_name="/ask")
    assert "70 percent" in answer["text"] and "[1]" in answer["text"]
    assert answer["refused"] is False and answer["mode"] == "extractive"
    first = answer["citations"][0]
    assert first["n"] == 1 and first["source"] == SEED_FILE.name
    assert CHINA_QUOTE in first["quote"]
    source_text = SEED_FILE.read_text(encoding="utf-8")
    assert source_text[first["start"] : first["end"]] == first["quote"]
    assert "passages" not in answer


def test_api_takes_history_mode_and_passages(api: Client, seed_assistant: Assistant) -> None:
    history = [
        {
            "role": "user",
            "content": "Which company is the largest rare earth supplier outside China?",
        },
        {"role": "assistant", "content": "Lynas Rare Earths [1]"},
    ]
    answer = api.predict(
        question="Where have its operations faced hurdles?",
        history=history,
        mode="extractive",
        passages=2,
        api_name="/ask",
    )
    assert "Which company is the largest" in answer["query"]  # the follow-up, made standalone
    assert "Malaysia" in answer["text"]
    refused = api.predict(question="Who won the 2022 FIFA World Cup?", api_name="/ask")
    assert refused["refused"] is True and refused["citations"] == []


def _in_process(assistant: Assistant, question: str, mode: str, passages: int) -> dict[str, Any]:
    """The answer of ``assistant`` with these settings, as /ask returns it."""
    data = assistant.configured(mode, passages).ask(question).to_dict()
    del data["passages"]
    return _rounded(json.loads(json.dumps(data)))


def _rounded(answer: dict[str, Any]) -> dict[str, Any]:
    for c in answer["citations"]:
        c["score"] = round(c["score"], 4)
    return answer


def test_api_mode_and_passages_change_the_answer(api: Client, seed_assistant: Assistant) -> None:
    """Each parameter gives what the assistant answers with that setting, and not the default
    answer (the question is one whose answer draws on more than the best passage)."""
    question = "Why would building new mines outside China be difficult?"
    default = _rounded(api.predict(question=question, api_name="/ask"))
    assert default == _in_process(seed_assistant, question, "auto", 6)
    one = _rounded(api.predict(question=question, passages=1, api_name="/ask"))
    assert one == _in_process(seed_assistant, question, "auto", 1) != default
    best = seed_assistant.retrieve(question, k=1)[0]  # everything quoted comes from it
    assert all(best.start <= c["start"] < c["end"] <= best.end for c in one["citations"])
    insisting = _rounded(api.predict(question=question, mode="llm", api_name="/ask"))
    assert insisting == _in_process(seed_assistant, question, "llm", 6) != default
    assert "QA_ANSWER_MODE=llm" in insisting["notice"] and default["notice"] == ""


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"question": "   "}, "the question is empty"),
        ({"question": CHINA, "mode": "poetry"}, "answer mode must be one of"),
        ({"question": CHINA, "passages": 0}, "number of passages must be from 1"),
        ({"question": CHINA, "history": [{"role": "system", "content": "x"}]}, "history must"),
    ],
)
def test_api_bad_requests_get_clear_errors(
    api: Client, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(Exception, match=re.escape(message)):
        api.predict(**kwargs, api_name="/ask")


def test_api_lists_only_ask(api: Client) -> None:
    """The chat's own events (streaming, rating, uploads) are not part of the API."""
    endpoints = api.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert list(endpoints) == ["/ask"]


def test_the_load_benchmark_counts_answers_and_errors(app_url: str) -> None:
    load = bench_load.run(app_url, sessions=3, questions=2)
    assert load.errors == [] and len(load.latencies) == 6
    assert "3 sessions x 2 questions: 6 answers, 0 errors" in load.summary()
    bad = bench_load.run(app_url, sessions=1, questions=1, asked=[("   ", [])])
    assert len(bad.errors) == 1 and "the question is empty" in bad.errors[0]


def _citation(n: int, quote: str, start: int, source: str = "doc.md") -> Citation:
    return Citation(n, source, quote, start, start + len(quote), None, 0.9, title=source)


def test_answers_and_sources_render_document_text_inert() -> None:
    """A planted <script>, <img onerror> or template in a document shows as text."""
    body = PLANTED
    quote = body[body.index("The Kestrel") : body.index("1886.") + 5]
    start = body.index(quote)
    passage = Passage("p1", body, "evil <b>.md", 0, len(body), None, 1.0, {"title": "<i>t</i>"})
    c = Citation(1, "evil <b>.md", quote, start, start + len(quote), None, 0.9, "<i>t</i>")
    answer = Answer(quote + " [1]", [c], False, "extractive", passages=[passage])
    turn = Turn("id", "<img src=x onerror=alert(1)>?", [], answer)
    for shown in (answer_html(1, turn.question, answer), sources_html([turn])):
        assert "<script" not in shown and "<img" not in shown and "<i>" not in shown
        assert "&lt;script&gt;" in shown
    shown_text = html.unescape(re.sub(r"<[^>]+>", "", sources_html([turn])))
    assert "<script>window.__pwned = 'script'; alert('script')</script>" in shown_text
    assert "<img src=x onerror=\"window.__pwned = 'img'\">" in shown_text


def test_markers_link_to_cards_and_unsupported_sentences_are_marked() -> None:
    answer = Answer(
        "Lynas is the largest supplier [1]. It mines gold on the Moon.",
        [_citation(1, "Lynas is the largest", 0)],
        False,
        "llm",
        unsupported=["It mines gold on the Moon.", "A sentence not in the text."],
    )
    shown = answer_html(3, "Who?", answer)
    assert '<a class="qa-cite" href="#qa-src-3-1"' in shown
    marked = re.findall(r'<span class="qa-unsupported"[^>]*>(.*?)</span>', shown)
    assert len(marked) == 1 and "gold on the Moon" in marked[0] and "qa-cite" not in marked[0]
    assert "Also unsupported: “A sentence not in the text.”" in shown


def test_notices_refusals_and_rewritten_questions_are_shown() -> None:
    degraded = Answer(
        "Quoted [1].",
        [_citation(1, "Quoted", 0)],
        False,
        "extractive",
        notice="LLM down",
        query="What did Lynas do in Malaysia?",
    )
    shown = answer_html(1, "What did it do there?", degraded)
    assert 'class="qa-notice qa-degraded"' in shown and "LLM down" in shown
    assert "Searched for: “What did Lynas do in Malaysia?”" in shown
    same = answer_html(1, "what did lynas do in  malaysia?", degraded)
    assert "Searched for" not in same
    refused = Answer("The documents do not answer this question.", [], True, "extractive")
    assert 'class="qa-notice qa-refused"' in answer_html(1, "Who?", refused)


def test_a_quote_is_shown_inside_its_surrounding_text() -> None:
    text = "word " * 100 + "THE QUOTE." + " more" * 100
    passage = Passage("p", text, "a.txt", 1000, 1000 + len(text), None, 1.0)
    start = 1000 + text.index("THE QUOTE.")
    c = Citation(1, "a.txt", "THE QUOTE.", start, start + 10, None, 0.9)
    before, quote, after = surrounding(c, [passage], chars=40)
    assert quote == "THE QUOTE."
    assert before.startswith("…") and before.endswith("word ") and len(before) <= 42
    assert after.endswith("…") and after.startswith(" more") and len(after) <= 42
    elsewhere = Citation(1, "b.txt", "THE QUOTE.", start, start + 10, None, 0.9)
    assert surrounding(elsewhere, [passage]) == ("", "THE QUOTE.", "")


def test_document_list_escapes_titles(seed_assistant: Assistant) -> None:
    import dataclasses

    import ingest

    listing = ingest.list_documents(seed_assistant.settings, seed_assistant.embeddings)
    listing.documents[0] = dataclasses.replace(listing.documents[0], title="<script>x</script>")
    shown = documents_html(listing)
    assert (
        "&lt;script&gt;" in shown
        and "<script>" not in shown
        and '<td class="qa-num">4</td>' in shown
    )


def _grounded_with_a_made_up_sentence(body: dict[str, Any]) -> Reply:
    if is_condense(body):
        return Reply(question_in(body))
    n = next(n for n, text in evidence_in(body).items() if "70 percent" in text)
    return Reply(
        f"China controls about 70 percent of global rare earth processing [{n}]. "
        f"Lynas Rare Earths mines gold on the Moon [{n}].",
        chunk_delay=0.02,
    )


def test_the_chat_streams_text_then_the_rendered_answer(seed_assistant: Assistant) -> None:
    with LLMServer(default=_grounded_with_a_made_up_sentence) as server:
        assistant = Assistant(
            Settings(
                index_dir=seed_assistant.settings.index_dir,
                llm_model="scripted",
                openai_base_url=server.base_url,
                llm_timeout=5.0,
            ),
            embeddings=seed_assistant.embeddings,
            index=seed_assistant.index,
        )
        updates = list(chat.respond(assistant, CHINA, [], "auto", 6))
    shown = [u[0][-1]["content"] for u in updates]
    streaming = [s for s in shown if "qa-streaming" in s]
    assert len(streaming) > 3 and "China controls" in streaming[-1]  # text as it arrived
    final, panel, turns, _, asking = updates[-1]
    assert asking == ""  # nothing left for the stop button
    assert "qa-streaming" not in final[-1]["content"] and "qa-unsupported" in final[-1]["content"]
    assert len(turns) == 1 and turns[0].answer.mode == "llm" and "<mark>" in panel
    assert chat.history(turns)[0] == {"role": "user", "content": CHINA}


def test_the_chat_shows_bad_questions_as_messages(seed_assistant: Assistant) -> None:
    *_, (messages, _, turns, _, _) = chat.respond(seed_assistant, "   ", [], "extractive", 6)
    assert "the question is empty" in messages[-1]["content"] and turns[0].answer is None
    assert chat.history(turns) == []


def test_login_is_read_from_qa_auth(tmp_path: Path) -> None:
    assert credentials(None) == [] and credentials("") == []
    assert credentials("ann:pa:ss") == [("ann", "pa:ss")]
    users = tmp_path / "users"
    users.write_text("# who may log in\nann:one\n\nbob:two\n", encoding="utf-8")
    assert credentials(str(users)) == [("ann", "one"), ("bob", "two")]
    users.write_text("ann:one\nbob\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"users:2 is not user:password"):
        credentials(str(users))
    with pytest.raises(SettingsError, match="QA_AUTH must be user:password") as err:
        credentials("secret-without-user")
    assert "secret-without-user" not in str(err.value)  # a password is never echoed


def test_binding_beyond_loopback_needs_a_login() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    check_exposure("127.0.0.1", [])
    check_exposure("0.0.0.0", [("ann", "one")])
    with pytest.raises(SettingsError, match="set QA_AUTH"):
        check_exposure("0.0.0.0", [])


def test_chat_command_refuses_an_open_address(capsys: pytest.CaptureFixture[str]) -> None:
    assert qa_main(["chat", "--host", "0.0.0.0"]) == 2
    assert "without a login: set QA_AUTH" in capsys.readouterr().err


def test_configured_assistants_share_their_parts(seed_assistant: Assistant) -> None:
    assert seed_assistant.configured() is seed_assistant
    assert seed_assistant.configured("auto", seed_assistant.settings.top_k) is seed_assistant
    two = seed_assistant.configured("extractive", 2)
    assert two is seed_assistant.configured("extractive", 2)  # kept, not rebuilt
    assert two.settings.top_k == 2 and two.settings.answer_mode == "extractive"
    assert two.searcher is seed_assistant.searcher and two.index is seed_assistant.index
    assert len(two.ask(CHINA).passages) == 2
    with pytest.raises(ValueError, match="answer mode"):
        seed_assistant.configured("poetry")
    with pytest.raises(ValueError, match="from 1 to 50"):
        seed_assistant.configured(top_k=51)


def test_the_stop_button_keeps_the_question_with_a_note() -> None:
    messages, _, turns, _, asking = chat.stopped([], "Where is Lynas?")
    assert [t.question for t in turns] == ["Where is Lynas?"] and turns[0].error == chat.STOPPED
    assert chat.STOPPED in messages[-1]["content"] and asking == ""
    nothing = chat.stopped(turns, "")  # the answer had come: nothing changes
    assert all(isinstance(x, dict) and x.get("__type__") == "update" for x in nothing)


def test_a_waiting_answer_shows_what_the_assistant_is_doing() -> None:
    [_, pending] = chat.messages([], ("Q?", "", "Waiting for the model: 2 questions ahead"))
    assert "Waiting for the model: 2 questions ahead…" in pending["content"]
    assert "qa-cursor" in pending["content"]
