"""Who may reach the web app: loopback only, unless a login (``QA_AUTH``) is set.

``QA_AUTH`` is ``user:password``, or the path of a file with one ``user:password`` a line
(blank lines and ``#`` comments skipped). The password may contain ":" (the first one splits).
Not handled: TLS; beyond one machine, put the app behind a proxy that terminates HTTPS.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from ingest.settings import SettingsError

Credentials = list[tuple[str, str]]

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def credentials(auth: str | None) -> Credentials:
    """The (user, password) pairs of ``QA_AUTH``; none when it is unset or empty.

    Messages never repeat a password: they name the file and line, or the variable.
    """
    if auth is None or not auth.strip():
        return []
    path = Path(auth).expanduser()
    if path.is_file():
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise SettingsError(f"QA_AUTH: cannot read {path}: {err}") from None
        pairs: Credentials = []
        for number, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            pair = _pair(line.strip())
            if pair is None:
                raise SettingsError(f"QA_AUTH: {path}:{number} is not user:password")
            pairs.append(pair)
        if not pairs:
            raise SettingsError(f"QA_AUTH: {path} holds no user:password line")
        return pairs
    pair = _pair(auth.strip())
    if pair is None:
        raise SettingsError(
            "QA_AUTH must be user:password (both non-empty) or the path of a file of such lines"
        )
    return [pair]


def _pair(text: str) -> tuple[str, str] | None:
    user, sep, password = text.partition(":")
    if not sep or not user.strip() or not password:
        return None
    return user.strip(), password


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach an app bound to ``host``."""
    name = host.strip().strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name or 0.0.0.0/:: : other machines may reach it


def check_exposure(host: str, pairs: Credentials) -> None:
    """Refuse to bind beyond loopback without a login."""
    if not pairs and not is_loopback(host):
        raise SettingsError(
            f"the web app would listen on {host}, reachable from other machines, without a "
            "login: set QA_AUTH=user:password (or the path of a file of such lines), or bind "
            "127.0.0.1"
        )
