"""Finding files and reading them: recursion, hidden files, front matter, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.load import LoadError, discover, file_sha256, read_document


def _read(path: Path):  # type: ignore[no-untyped-def]
    files, failed = discover([path])
    assert not failed
    data, sha = file_sha256(files[0].path)
    return read_document(files[0], data, sha)


def test_discover_recurses_skips_hidden_and_names_sources_relative_to_root(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    (tmp_path / "top.txt").write_text("top")
    (tmp_path / "a" / "b" / "deep.md").write_text("deep")
    (tmp_path / ".hidden.txt").write_text("hidden")
    (tmp_path / ".git" / "x.txt").write_text("x")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    files, failed = discover([tmp_path])
    assert [f.source for f in files] == ["a/b/deep.md", "top.txt"]
    assert failed == []


def test_named_file_gets_its_own_name_and_bad_paths_are_reported(tmp_path: Path) -> None:
    (tmp_path / "one.txt").write_text("one")
    (tmp_path / "pic.png").write_bytes(b"x")
    files, failed = discover([tmp_path / "one.txt", tmp_path / "missing", tmp_path / "pic.png"])
    assert [f.source for f in files] == ["one.txt"]
    reasons = dict(failed)
    assert reasons[str(tmp_path / "missing")] == "no such file or folder"
    assert "unsupported file type '.png'" in reasons[str(tmp_path / "pic.png")]


def test_front_matter_becomes_metadata_and_offsets_stay_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "doc.md"
    path.write_text(
        "---\ntitle: A Title\nsource: The Paper\npublished: 2023-10-01\ntags: [a, b]\n---\n"
        "# Heading\nBody text here.\n",
        encoding="utf-8",
    )
    doc = _read(path)
    assert doc.title == "A Title"
    assert doc.metadata == {"source": "The Paper", "published": "2023-10-01", "tags": "a, b"}
    assert doc.text[doc.content_start :].startswith("# Heading")


def test_markdown_title_is_the_first_heading_and_text_title_the_first_short_line(
    tmp_path: Path,
) -> None:
    (tmp_path / "m.md").write_text("Intro line\n\n## The Heading ##\ntext\n")
    (tmp_path / "t.txt").write_text("Plain Title\nBody.\n")
    (tmp_path / "long_name.txt").write_text("x" * 500)
    assert _read(tmp_path / "m.md").title == "The Heading"
    assert _read(tmp_path / "t.txt").title == "Plain Title"
    assert _read(tmp_path / "long_name.txt").title == "long name"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"  \n\n", "empty file"),
        (b"abc\x00def", "binary content"),
        (b"\xff\xfe\x00\xd8", "invalid utf-16 text after its byte-order mark"),
        (b"---\ntitle: [unclosed\n---\nbody\n", "invalid YAML front matter"),
        (b"---\n- a list\n---\nbody\n", "front matter is not a mapping"),
        (b"---\ntitle: only front matter\n---\n", "no text after the front matter"),
    ],
)
def test_bad_files_raise_load_error_with_reason(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "bad.md"
    path.write_bytes(content)
    with pytest.raises(LoadError, match=reason):
        _read(path)
