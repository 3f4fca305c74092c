"""Where the chunks live: an embedded Chroma in the index folder, or a Chroma server.

With ``QA_CHROMA_URL`` set, ingestion and answering both use ``chromadb.HttpClient``. The
server is asked for a heartbeat first (with a timeout), so a server that is down, refuses
the token or does not answer gives one clear IndexUnavailableError within
``QA_CHROMA_TIMEOUT`` seconds, not a hang and not a traceback; ``server_errors`` does the same
for a server lost in the middle of a run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import chromadb
import httpx
from chromadb.api import ClientAPI
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import AuthorizationError, ChromaAuthError

from .errors import IndexUnavailableError
from .settings import IndexSettings

CHROMA_DIR = "chroma"  # inside the index folder, embedded mode


def make_client(settings: IndexSettings) -> ClientAPI:
    if not settings.chroma_url:
        return chromadb.PersistentClient(
            path=str(Path(settings.index_dir) / CHROMA_DIR),
            settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False),
        )
    url = settings.chroma_url
    headers = auth_headers(settings)
    check_server(url, headers, settings.chroma_timeout)
    parts = urlsplit(url)
    https = parts.scheme == "https"
    with server_errors(url, settings.chroma_timeout):
        client = chromadb.HttpClient(
            host=str(parts.hostname),
            port=parts.port or (443 if https else 8000),
            ssl=https,
            headers=headers,
            settings=ChromaSettings(anonymized_telemetry=False),
        )
    # subtle: chromadb's HTTP session has no timeout at all (httpx timeout=None), so a server
    # that stops answering would hang every call; give it ours.
    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(settings.chroma_timeout)
    return client


def auth_headers(settings: IndexSettings) -> dict[str, str]:
    if not settings.chroma_token:
        return {}
    header = settings.chroma_auth_header
    if header.lower() == "authorization":
        return {header: f"Bearer {settings.chroma_token}"}
    return {header: settings.chroma_token}


def check_server(url: str, headers: dict[str, str], timeout: float) -> None:
    """Raise IndexUnavailableError unless a Chroma server answers a heartbeat at ``url``."""
    with server_errors(url, timeout):
        response = httpx.get(
            f"{url.rstrip('/')}/api/v2/heartbeat", headers=headers, timeout=timeout
        )
    if response.status_code in (401, 403):
        raise IndexUnavailableError(
            f"the Chroma server at {url} refused the request (HTTP {response.status_code}): "
            "check QA_CHROMA_TOKEN and QA_CHROMA_AUTH_HEADER"
        )
    if response.status_code != 200:
        raise IndexUnavailableError(
            f"{url} answered HTTP {response.status_code} to a Chroma heartbeat: is QA_CHROMA_URL "
            "the address of a Chroma (1.x) server?"
        )


@contextmanager
def server_errors(url: str | None, timeout: float = 0) -> Iterator[None]:
    """Turn a lost or refusing Chroma server into IndexUnavailableError (no-op when embedded)."""
    if url is None:
        yield
        return
    try:
        yield
    except httpx.TimeoutException:
        raise IndexUnavailableError(
            f"the Chroma server at {url} did not answer within {timeout:g} s "
            "(QA_CHROMA_TIMEOUT); is it overloaded or stuck?"
        ) from None
    except httpx.TransportError as err:
        raise IndexUnavailableError(
            f"cannot reach the Chroma server at {url} ({err or type(err).__name__}); start it "
            "(`chroma run --path DIR --host HOST --port PORT`) or fix QA_CHROMA_URL"
        ) from None
    except (AuthorizationError, ChromaAuthError) as err:
        raise IndexUnavailableError(
            f"the Chroma server at {url} refused the request ({err}): check QA_CHROMA_TOKEN "
            "and QA_CHROMA_AUTH_HEADER"
        ) from None
