"""Repeated failed logins are slowed down (issue 15, item 9): over real HTTP against the app
served with QA_AUTH, and the schedule itself on a clock of its own."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from qa import Assistant
from qa.ui.throttle import FREE_ATTEMPTS, MAX_DELAY, Attempts

from .webapp import serving


@pytest.fixture(scope="module")
def app_url(seed_assistant: Assistant) -> Iterator[str]:
    with serving(seed_assistant, auth="ann:correct horse") as url:
        yield url


def _login(url: str, password: str) -> httpx.Response:
    return httpx.post(f"{url}login", data={"username": "ann", "password": password}, timeout=30)


def test_forty_wrong_passwords_are_not_all_answered(app_url: str) -> None:
    started = time.monotonic()
    answers = [_login(app_url, f"guess {n}") for n in range(40)]
    took = time.monotonic() - started
    statuses = [a.status_code for a in answers]
    checked = statuses.count(400)
    assert checked <= FREE_ATTEMPTS + 1 + took // 2, statuses  # a slow machine earns more
    assert statuses.count(429) == 40 - checked
    refused = next(a for a in answers if a.status_code == 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert "too many failed logins" in refused.json()["detail"]

    # The right password waits its turn too (else guessing would go on), then gets in.
    locked = _login(app_url, "correct horse")
    assert locked.status_code == 429
    time.sleep(int(locked.headers["Retry-After"]))
    assert _login(app_url, "correct horse").status_code == 200
    assert _login(app_url, "wrong again").status_code == 400  # a success starts over


def test_guesses_sent_at_once_are_judged_in_turn(app_url: str) -> None:
    with ThreadPoolExecutor(8) as pool:
        statuses = [r.status_code for r in pool.map(lambda n: _login(app_url, f"x{n}"), range(24))]
    assert statuses.count(400) <= FREE_ATTEMPTS + 1, statuses
    assert statuses.count(429) >= 24 - FREE_ATTEMPTS - 1


def test_many_right_logins_at_once_all_get_in(app_url: str) -> None:
    """A load test's sessions (or an office behind one proxy) log in together."""
    while (first := _login(app_url, "correct horse")).status_code == 429:  # earlier tests
        time.sleep(int(first.headers["Retry-After"]))
    assert first.status_code == 200
    with ThreadPoolExecutor(8) as pool:
        statuses = [
            r.status_code for r in pool.map(lambda _: _login(app_url, "correct horse"), range(20))
        ]
    assert statuses == [200] * 20


def test_the_delay_doubles_is_capped_and_is_forgotten() -> None:
    now = [1000.0]
    attempts = Attempts(clock=lambda: now[0])
    waits = []
    for _ in range(14):
        assert attempts.wait("10.0.0.1") == 0
        attempts.failed("10.0.0.1")
        waits.append(attempts.wait("10.0.0.1"))
        now[0] += waits[-1]
    assert waits[: FREE_ATTEMPTS - 1] == [0] * (FREE_ATTEMPTS - 1)
    assert waits[FREE_ATTEMPTS - 1 : FREE_ATTEMPTS + 3] == [1, 2, 4, 8]
    assert max(waits) == MAX_DELAY  # never locked out for good
    assert attempts.wait("10.0.0.2") == 0  # another client is not held up
    attempts.succeeded("10.0.0.1")
    assert attempts.wait("10.0.0.1") == 0
    for _ in range(FREE_ATTEMPTS + 2):
        attempts.failed("10.0.0.3")
    now[0] += 3600  # an hour later, the failures are forgotten
    assert attempts.wait("10.0.0.3") == 0
