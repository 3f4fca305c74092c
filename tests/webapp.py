"""The web app served for real on 127.0.0.1 for tests, and Debian's Chromium to look at it."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gradio_client import Client

from qa import Assistant
from qa.ui import build, launch

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "out" / "screenshots"  # test artifacts (gitignored)
# Debian's package (make test installs it); never a browser downloaded by `playwright install`.
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium phones Google at start-up (and fails
# noisily here); QUIC and GPU are of no use to a headless test browser.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

PLANTED = """# Harbour notes <script>window.__pwned = 'title'</script>

The Kestrel Bay harbour pilot service was founded in 1887 by Marguerite Olsson \
<script>window.__pwned = 'script'; alert('script')</script> after the storm of 1886.
Its pilots guide about 4,200 ships a year <img src=x onerror="window.__pwned = 'img'"> \
through the Kestrel narrows.
Template tricks such as ${window.__pwned = 'template'} and \
{{constructor.constructor('window.__pwned = 1')()}} stay plain text.
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(assistant: Assistant, **settings: Any) -> Iterator[str]:
    """The page and its API for ``assistant`` on a free port (``settings``: e.g. ``auth``);
    yields its URL."""
    port = free_port()
    options = assistant.settings.model_copy(update={"host": "127.0.0.1", "port": port, **settings})
    demo = build(assistant)
    launch(demo, options, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def client(url: str, auth: tuple[str, str] | None = None) -> Client:
    return Client(url, auth=auth, verbose=False, analytics_enabled=False, download_files=False)
