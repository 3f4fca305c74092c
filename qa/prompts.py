"""Prompt files: YAML with one Jinja template per chat role, rendered strictly.

Looked up by name in the user's folder (``QA_PROMPTS_DIR``) first, then in the built-in one.
A variable the template uses but the caller did not give is an error, never a blank.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

_ROLES = ("system", "user")
# The repository's prompts/ in a checkout; the copy inside the package in a wheel.
_BUILT_IN = next(
    (
        p
        for p in (
            Path(__file__).resolve().parent.parent / "prompts",
            Path(__file__).resolve().parent / "_prompts",
        )
        if p.is_dir()
    ),
    Path(__file__).resolve().parent.parent / "prompts",
)
_ENV = jinja2.Environment(
    undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False
)


class PromptError(ValueError):
    """A prompt file is missing or malformed, or a template variable was not given."""


def prompt_path(name: str, directory: Path | None = None) -> Path:
    for folder in (directory, _BUILT_IN):
        if folder is not None and (folder / f"{name}.yaml").is_file():
            return folder / f"{name}.yaml"
    raise PromptError(f"no prompt named {name!r} in {directory or _BUILT_IN}")


@lru_cache(maxsize=32)
def _templates(path: Path) -> dict[str, jinja2.Template]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not set(data) <= set(_ROLES) or not data:
        raise PromptError(f"{path}: expected the keys {', '.join(_ROLES)} with template text")
    return {role: _ENV.from_string(str(data[role])) for role in _ROLES if role in data}


def render(name: str, directory: Path | None = None, **variables: Any) -> list[dict[str, str]]:
    """Chat messages ``[{"role", "content"}]`` of the named prompt with ``variables`` filled in."""
    templates = _templates(prompt_path(name, directory))
    try:
        return [
            {"role": role, "content": t.render(**variables).strip()}
            for role, t in templates.items()
        ]
    except jinja2.UndefinedError as err:
        raise PromptError(f"prompt {name!r}: {err.message}") from None


def digest(names: tuple[str, ...] = ("answer", "condense"), directory: Path | None = None) -> str:
    """A short hash of the named prompt files as found: an evaluation records it, so that its
    model replies are not replayed as if another prompt had been asked (bench/replay_replies)."""
    h = hashlib.sha256()
    for name in names:
        h.update(prompt_path(name, directory).read_bytes())
    return h.hexdigest()[:16]
