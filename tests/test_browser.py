"""The page in a real browser: Debian's Chromium, headless, driven by Playwright.

Each test serves the app on 127.0.0.1 over a temporary index (the seeds plus a document with
planted markup), and fails on any request leaving this machine or any dialog a script opens.
Screenshots land in out/screenshots/ (one per test, plus answer-with-sources.png).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from gradio_client.exceptions import AuthenticationError
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

import ingest
from qa import Assistant, Settings
from qa.eval import load_cases
from qa.feedback import FEEDBACK_FILE

from .conftest import SEED_FILE, SEEDS
from .files import make_pdf
from .llm_server import Hang, LLMServer, Reply, Scripted, evidence_in, is_condense
from .webapp import CHROMIUM, CHROMIUM_ARGS, PLANTED, SCREENSHOTS, client, serving

pytestmark = [pytest.mark.browser, pytest.mark.slow]
expect.set_options(timeout=30_000)  # an answer on 2 busy shared cores

CHINA = "What share of global rare earth processing does China control?"
SEED_TITLE = "U.S. Strikes Strategic Mineral Deals in Asia"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: `make test` installs Debian's (apt-get install "
            "chromium); set CHROMIUM to use another binary"
        )
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def web_assistant(tmp_path_factory: pytest.TempPathFactory, embeddings: Any) -> Iterator[Assistant]:
    """The seeds and harbour.md (planted markup), indexed through the public API."""
    folder = tmp_path_factory.mktemp("web")
    planted = folder / "docs" / "harbour.md"
    planted.parent.mkdir()
    planted.write_text(PLANTED, encoding="utf-8")
    settings = Settings(index_dir=folder / "index")
    report = ingest.ingest([SEEDS, planted], settings=settings, embeddings=embeddings)
    assert report.ok and len(report.added) == 2, report.summary()
    assistant = Assistant(settings, embeddings=embeddings)
    yield assistant
    assistant.index.close()


@pytest.fixture(scope="module")
def app_url(web_assistant: Assistant) -> Iterator[str]:
    with serving(web_assistant) as url:
        yield url


@dataclass
class Watched:
    """What the page did that it should not: reach beyond loopback, open dialogs, fail."""

    outside: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def watched() -> Watched:
    return Watched()


@pytest.fixture
def page(chromium: Browser, watched: Watched, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})

    def only_local(route: Route) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if host in ("127.0.0.1", "localhost") or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:  # the page must work offline: fonts, scripts, telemetry all from the app
            watched.outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    page.on("dialog", lambda d: (watched.dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: watched.errors.append(str(e)))
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert watched.outside == [], "the page reached beyond this machine"
    assert watched.dialogs == [], "a script opened a dialog"
    assert watched.errors == [], "the page raised errors"


def open_app(page: Page, url: str) -> None:
    page.goto(url, wait_until="load")
    expect(page.locator("#qa-question textarea")).to_be_visible()


def ask(page: Page, question: str) -> None:
    """Ask and wait until the answer is complete (its last line, or an error, is shown)."""
    done = page.locator("#qa-chat .qa-answer:not(.qa-streaming)")
    before = done.count()
    page.fill("#qa-question textarea", question)
    page.click("#qa-ask")
    expect(done).to_have_count(before + 1)


def last_answer(page: Page) -> Any:
    return page.locator("#qa-chat .qa-answer").last


def test_a_seed_question_gets_an_answer_with_linked_highlighted_sources(
    page: Page, app_url: str
) -> None:
    open_app(page, app_url)
    ask(page, CHINA)
    answer = last_answer(page)
    expect(answer.locator(".qa-text")).to_contain_text("70 percent of global rare earth")
    cite = answer.locator("a.qa-cite").first
    expect(cite).to_have_text("[1]")
    href = cite.get_attribute("href")
    assert href == "#qa-src-1-1"
    card = page.locator(f"#qa-sources {href}")
    expect(card.locator("header")).to_have_text(f"[1] {SEED_TITLE}")
    expect(card.locator(".qa-where")).to_have_text(SEED_FILE.name)
    quote = card.locator("mark")
    expect(quote).to_have_text(re.compile(r"^China currently controls about 70 percent"))
    context = card.locator(".qa-context").inner_text()
    before, _, after = context.partition(quote.inner_text())
    assert "Challenging China’s Stronghold" in before and "export restrictions" in after
    cite.click()
    assert page.evaluate("location.hash") == href
    assert card.evaluate("e => e.matches(':target')")  # highlighted as the one pointed to
    page.screenshot(path=str(SCREENSHOTS / "answer-with-sources.png"))


def test_settings_examples_refusals_and_clearing(page: Page, app_url: str) -> None:
    open_app(page, app_url)
    page.get_by_role("button", name=re.compile(r"^Which company is the largest")).click()
    expect(page.locator("#qa-question textarea")).to_have_value(
        "Which company is the largest rare earth supplier outside China?"
    )
    page.click("#qa-ask")
    expect(last_answer(page).locator(".qa-text")).to_contain_text("Lynas")
    ask(page, "Where have its operations faced hurdles?")  # a follow-up: searched with the last
    expect(last_answer(page).locator(".qa-query")).to_contain_text(
        "Searched for: “Which company is the largest rare earth supplier outside China? Where"
    )
    ask(page, "Who won the 2022 FIFA World Cup?")
    expect(last_answer(page).locator(".qa-refused")).to_have_text(
        "The documents do not answer this question."
    )

    page.get_by_role("tab", name="Settings").click()
    page.get_by_label("llm").check()
    slider = page.locator("#qa-passages input[type=number]")
    slider.fill("2")
    slider.press("Enter")
    page.get_by_role("tab", name="Chat").click()
    ask(page, CHINA)
    expect(last_answer(page).locator(".qa-degraded")).to_contain_text("no model is available")
    expect(last_answer(page).locator(".qa-meta")).to_contain_text("2 passages searched")

    page.click("#qa-clear")
    expect(page.locator("#qa-chat .qa-answer")).to_have_count(0)
    expect(page.locator("#qa-sources .qa-source")).to_have_count(0)


def test_an_uploaded_file_is_listed_answered_from_and_deleted(
    page: Page, app_url: str, tmp_path: Path
) -> None:
    note = tmp_path / "lighthouse log.md"
    note.write_text(
        "# Lighthouse log\n\nThe Gannet Rock lighthouse keeper in 1923 was Ingrid Halvorsen, "
        "who kept the lamp lit through the great gale.\n",
        encoding="utf-8",
    )
    broken = tmp_path / "minutes.pdf"
    broken.write_bytes(b"%PDF-1.4 not really a PDF")
    ships = make_pdf(tmp_path / "ships.pdf", [["Harbour dues rose by 3 percent."]])
    open_app(page, app_url)
    page.get_by_role("tab", name="Documents").click()
    page.set_input_files("#qa-upload input[type=file]", [note, broken, ships])
    report = page.locator("#qa-report .qa-report")
    expect(report.locator(".qa-ok")).to_contain_text("2 added")
    expect(report.locator(".qa-failed li")).to_have_text(re.compile(r"^minutes\.pdf: .*PDF"))
    row = page.locator("#qa-documents tr", has_text="lighthouse_log.md")
    expect(row).to_contain_text("Lighthouse log")
    expect(row.locator(".qa-num")).to_have_text("1")
    expect(
        page.locator("#qa-documents tr", has_text=SEED_FILE.name).locator(".qa-num")
    ).to_have_text("4")

    page.get_by_role("tab", name="Chat").click()
    ask(page, "Who was the Gannet Rock lighthouse keeper in 1923?")
    expect(last_answer(page).locator(".qa-text")).to_contain_text("Ingrid Halvorsen")
    expect(page.locator("#qa-sources .qa-source .qa-where").first).to_have_text("lighthouse_log.md")

    page.get_by_role("tab", name="Documents").click()
    page.locator("#qa-pick input").click()
    page.get_by_role("option", name="lighthouse_log.md").click()
    page.click("#qa-delete")
    expect(page.locator("#qa-report")).to_contain_text("Deleted lighthouse_log.md (1 chunks)")
    expect(page.locator("#qa-documents tr", has_text="lighthouse_log.md")).to_have_count(0)
    page.locator("#qa-pick input").click()
    page.get_by_role("option", name="ships.pdf").click()
    page.click("#qa-delete")
    expect(page.locator("#qa-documents tr", has_text="ships.pdf")).to_have_count(0)


# Installed before the page's own scripts: every <img> that ever enters the page (even if
# taken out again) gets load and error listeners as it is inserted, before its fetch can end
# (observers run as microtasks), so a test can wait until each one has loaded or failed; a
# listener added then runs after the element's own onerror attribute.
IMAGE_WATCH = """
window.__images = [];
new MutationObserver((records) => {
  for (const record of records) {
    for (const node of record.addedNodes) {
      if (node.nodeType !== Node.ELEMENT_NODE) continue;
      const found = node.matches("img") ? [node] : [...node.querySelectorAll("img")];
      for (const img of found) {
        if (window.__images.some((seen) => seen.img === img)) continue;
        const seen = { img, settled: false };
        const settle = () => { seen.settled = true; };
        img.addEventListener("load", settle);
        img.addEventListener("error", settle);
        window.__images.push(seen);
      }
    }
  }
}).observe(document, { childList: true, subtree: true });
"""


def test_planted_markup_in_a_document_is_shown_as_text_and_runs_nothing(
    page: Page, app_url: str, watched: Watched
) -> None:
    page.add_init_script(IMAGE_WATCH)
    open_app(page, app_url)
    assert page.evaluate("Array.isArray(window.__images)")
    ask(page, "Who founded the Kestrel Bay harbour pilot service?")
    _assert_nothing_ran(page)
    answer = last_answer(page)
    expect(answer.locator(".qa-text")).to_contain_text(
        "<script>window.__pwned = 'script'; alert('script')</script>"
    )
    card = page.locator("#qa-sources .qa-source").first
    expect(card.locator("header")).to_contain_text("Harbour notes <script>")
    expect(card.locator(".qa-context")).to_contain_text("<img src=x onerror=")
    expect(card.locator(".qa-context")).to_contain_text("${window.__pwned = 'template'}")
    page.get_by_role("tab", name="Documents").click()
    expect(page.locator("#qa-documents")).to_contain_text("Harbour notes <script>")
    page.get_by_role("tab", name="Chat").click()
    _assert_nothing_ran(page)
    for where in ("#qa-chat", "#qa-sources", "#qa-documents"):
        assert page.locator(f"{where} script, {where} img").count() == 0
    assert watched.dialogs == []


def _assert_nothing_ran(page: Page) -> None:
    # Every image the page ever held has loaded or failed: an onerror handler has run by now.
    page.wait_for_function("window.__images.every((seen) => seen.settled)")
    assert page.evaluate("window.__pwned") is None


def _china_with_a_made_up_sentence(body: dict[str, Any]) -> Scripted:
    if is_condense(body):
        return Reply("What export restrictions has China imposed on rare earths?")
    n = next((n for n, text in evidence_in(body).items() if "70 percent" in text), 1)
    return Reply(
        f"China controls about 70 percent of global rare earth processing [{n}]. "
        f"Lynas Rare Earths mines gold on the Moon [{n}].",
        chunk_delay=0.08,  # about 1.5 s in all: long enough to be seen arriving
        words_per_chunk=1,
    )


@pytest.fixture
def llm_app(web_assistant: Assistant) -> Iterator[tuple[str, LLMServer]]:
    with LLMServer(default=_china_with_a_made_up_sentence) as server:
        settings = web_assistant.settings.model_copy(
            update={"llm_model": "scripted", "openai_base_url": server.base_url, "llm_timeout": 5.0}
        )
        assistant = Assistant(
            settings, embeddings=web_assistant.embeddings, index=web_assistant.index
        )
        with serving(assistant) as url:
            yield url, server


def test_an_llm_answer_streams_in_marks_unsupported_sentences_and_degrades(
    page: Page, llm_app: tuple[str, LLMServer]
) -> None:
    url, server = llm_app
    open_app(page, url)
    page.fill("#qa-question textarea", CHINA)
    page.click("#qa-ask")
    streaming = page.locator("#qa-chat .qa-streaming")
    expect(streaming).to_contain_text("China controls")  # part of the text, still arriving
    seen = streaming.inner_text()
    assert "Moon" not in seen and "▍" in seen
    # The passages the answer draws on are shown while the model is still writing.
    expect(page.locator("#qa-sources .qa-found").first).to_be_visible()
    expect(page.locator("#qa-sources .qa-pending")).to_contain_text("being written")
    answer = page.locator("#qa-chat .qa-answer:not(.qa-streaming)").last
    expect(answer.locator(".qa-unsupported")).to_contain_text("gold on the Moon")
    expect(answer.locator(".qa-unsupported-note")).to_be_visible()
    expect(answer.locator("a.qa-cite").first).to_have_text("[1]")
    expect(page.locator("#qa-chat .qa-streaming")).to_have_count(0)
    expect(page.locator("#qa-sources .qa-found")).to_have_count(0)  # the answer's own cards
    page.screenshot(path=str(SCREENSHOTS / "llm-unsupported.png"))

    ask(page, "What about its export restrictions?")
    expect(last_answer(page).locator(".qa-query")).to_have_text(
        "Searched for: “What export restrictions has China imposed on rare earths?”"
    )

    server.default = lambda body: Hang()
    started = time.perf_counter()
    ask(page, "Which company is the largest rare earth supplier outside China?")
    assert time.perf_counter() - started < 5.0 + 10.0
    expect(last_answer(page).locator(".qa-degraded")).to_contain_text("The LLM could not answer")
    expect(last_answer(page).locator(".qa-text")).to_contain_text("Lynas")


def test_the_stop_button_ends_the_answer_and_the_models_stream(
    page: Page, llm_app: tuple[str, LLMServer]
) -> None:
    url, server = llm_app
    words = " ".join(f"word{i}" for i in range(200))
    server.default = lambda body: Reply(f"{words} [1].", chunk_delay=0.1, words_per_chunk=1)
    open_app(page, url)
    page.fill("#qa-question textarea", CHINA)
    page.click("#qa-ask")
    expect(page.locator("#qa-chat .qa-streaming")).to_contain_text("word3")
    page.click("#qa-stop")
    expect(last_answer(page)).to_contain_text("Stopped before the answer was complete.")
    expect(page.locator("#qa-chat .qa-streaming")).to_have_count(0)
    _wait_for(lambda: server.requests[-1].dropped, 10)  # the model's stream was closed
    assert server.requests[-1].done is None
    server.default = _china_with_a_made_up_sentence
    ask(page, CHINA)  # the page asks again as before
    expect(last_answer(page).locator(".qa-text")).to_contain_text("70 percent")


def test_ratings_are_kept_as_evaluation_cases(
    page: Page, app_url: str, web_assistant: Assistant
) -> None:
    path = Path(web_assistant.settings.index_dir) / FEEDBACK_FILE
    path.unlink(missing_ok=True)
    open_app(page, app_url)
    ask(page, CHINA)
    page.locator("#qa-chat button[aria-label='Like']").click()
    _wait_for(lambda: path.exists() and "thumbs-up" in path.read_text(encoding="utf-8"))
    # Withdrawn, then down, in quick succession: both count, in order.
    page.locator("#qa-chat button[aria-label='Liked']").click()
    page.locator("#qa-chat button[aria-label='Dislike']").click()
    _wait_for(lambda: "thumbs-down" in path.read_text(encoding="utf-8"))
    (case,), _ = load_cases(path)
    assert case.question == CHINA and case.tags == ("feedback", "thumbs-down")
    line = json.loads(path.read_text(encoding="utf-8"))
    assert "70 percent" in line["feedback"]["answer"]


def _wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_qa_auth_puts_a_login_in_front_of_page_and_api(
    page: Page, web_assistant: Assistant, tmp_path: Path
) -> None:
    users = tmp_path / "users"
    users.write_text("ann:correct horse\n", encoding="utf-8")
    with serving(web_assistant, auth=str(users)) as url:
        page.goto(url, wait_until="load")
        expect(page.get_by_text("Log in to ask the documents.")).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / "login.png"))
        page.get_by_label("username").fill("ann")
        page.get_by_label("password").fill("wrong")
        page.get_by_role("button", name="Login").click()
        expect(page.get_by_text("Incorrect Credentials")).to_be_visible()
        expect(page.locator("#qa-question")).to_have_count(0)
        page.get_by_label("username").fill("ann")  # the failed attempt cleared it
        page.get_by_label("password").fill("correct horse")
        page.get_by_role("button", name="Login").click()
        expect(page.locator("#qa-question textarea")).to_be_visible()
        with pytest.raises(AuthenticationError, match="credentials were not provided"):
            client(url)
        answer = client(url, auth=("ann", "correct horse")).predict(question=CHINA, api_name="/ask")
        assert "70 percent" in answer["text"]
        page.goto("about:blank")  # before the server goes


def test_one_bad_file_in_a_selection_does_not_reject_the_others(
    page: Page, web_assistant: Assistant, tmp_path: Path
) -> None:
    """issue 15, item 5: a file too big or of the wrong type is listed with its reason on
    the page, the rest of the selection is ingested, and nothing refused stays on disk."""
    good = tmp_path / "tides.md"
    good.write_text("# Tides\n\nThe spring tide at Kestrel Bay reached 6.1 metres.\n")
    big = tmp_path / "big.txt"
    big.write_text("The Kestrel narrows are deep. " * 100, encoding="utf-8")  # 3 kB
    exe = tmp_path / "tool.exe"
    exe.write_bytes(b"MZ" + b"\0" * 100)
    uploads = Path(web_assistant.settings.index_dir) / "uploads"
    small = Assistant(  # the same index, with a limit of 2 kB per upload
        web_assistant.settings.model_copy(update={"max_upload_mb": 0.002}),
        embeddings=web_assistant.embeddings,
        index=web_assistant.index,
    )
    with serving(small) as url:
        open_app(page, url)
        page.get_by_role("tab", name="Documents").click()
        page.set_input_files("#qa-upload input[type=file]", [good, big, exe])
        report = page.locator("#qa-report .qa-report")
        expect(report.locator(".qa-ok")).to_contain_text("1 added")
        failed = report.locator(".qa-failed li")
        expect(failed).to_have_count(2)
        expect(failed.nth(0)).to_have_text(
            re.compile(r"^big\.txt: file is 3\.0 kB, over the 2\.0 kB")
        )
        expect(failed.nth(1)).to_have_text(re.compile(r"^tool\.exe: unsupported file type"))
        expect(page.locator("#qa-documents tr", has_text="tides.md")).to_have_count(1)
        page.screenshot(path=str(SCREENSHOTS / "upload-mixed-selection.png"))
        assert not (uploads / "big.txt").exists() and not (uploads / "tool.exe").exists()
        page.locator("#qa-pick input").click()
        page.get_by_role("option", name="tides.md").click()
        page.click("#qa-delete")
        expect(page.locator("#qa-documents tr", has_text="tides.md")).to_have_count(0)
        page.goto("about:blank")  # before the server goes
        # Past four times the limit the server itself refuses a file before storing it.
        huge = tmp_path / "huge.txt"
        huge.write_text("x" * 9000, encoding="utf-8")
        with huge.open("rb") as f:
            response = httpx.post(f"{url}gradio_api/upload", files={"files": f}, timeout=30)
        assert response.status_code == 413, response.text
