"""bench/calibrate_citecheck.py end to end on a few cases written here: the grid, the
threshold table and the check split's figures, with the real MiniLM. The weights and threshold
are chosen on the "calibrate" split only: labels changed in the "check" split change nothing
but the check's own figures."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench import calibrate_citecheck
from qa.citecheck import Weights

from .conftest import SEED_FILE

SEED = SEED_FILE.read_text(encoding="utf-8")
CHINA = "China currently controls about 70 percent of global rare earth processing"
LYNAS = "The Australian company Lynas Rare Earths remains the largest supplier outside China"
RECIPE = "The recipe calls for two cups of flour and one egg."


def _window(phrase: str) -> str:
    """A passage of the seed article: the paragraph holding ``phrase``."""
    return next(p.strip() for p in SEED.split("\n\n") if phrase in p)


def _group(article: int, split: str, phrase: str, *claims: tuple[bool, str, str]) -> dict[str, Any]:
    """One passage of the case file, with its (supported, kind, sentence) claims."""
    return {
        "article": article,
        "split": split,
        "passage": _window(phrase),
        "claims": [{"supported": s, "kind": k, "sentence": t} for s, k, t in claims],
    }


def _cases(check_label: bool) -> list[dict[str, Any]]:
    off_topic = "The Dolphins beat the Commanders 45 to 15 on Sunday."
    return [
        _group(
            1,
            "calibrate",
            CHINA,
            (True, "verbatim", CHINA + "."),
            (False, "off-topic", off_topic),
            (False, "number", CHINA.replace("70", "95")),
        ),
        _group(
            2, "calibrate", LYNAS, (True, "verbatim", LYNAS + "."), (False, "off-topic", off_topic)
        ),
        _group(
            3,
            "check",
            LYNAS,
            (True, "verbatim", LYNAS + "."),
            # Right when labelled unsupported; the check reports it wrong otherwise.
            (check_label, "off-topic", off_topic),
            (False, "off-topic", RECIPE),
        ),
    ]


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str], check_label: bool) -> str:
    path = tmp_path / f"cases-{check_label}.yaml"
    path.write_text(yaml.safe_dump(_cases(check_label), allow_unicode=True), encoding="utf-8")
    calibrate_citecheck.main(["--cases", str(path)])
    return capsys.readouterr().out


@pytest.fixture
def small_grid(monkeypatch: pytest.MonkeyPatch) -> int:
    """Two values per weight (the current one and half of it): 64 points instead of 432."""
    current = Weights()
    for name, value in [
        ("EMBEDDING_WEIGHTS", current.embedding),
        ("NUMBER_PENALTIES", current.number_penalty),
        ("NAME_WEIGHTS", current.name_weight),
        ("NEGATION_PENALTIES", current.negation_penalty),
        ("CONTEXT_WEIGHTS", current.context),
        ("NAME_PENALTIES", current.name_penalty),
    ]:
        monkeypatch.setattr(calibrate_citecheck, name, tuple(dict.fromkeys([value, value / 2])))
    return len(list(itertools.product(*(getattr(calibrate_citecheck, n) for n in _GRID))))


_GRID = [
    "EMBEDDING_WEIGHTS",
    "NUMBER_PENALTIES",
    "NAME_WEIGHTS",
    "NEGATION_PENALTIES",
    "CONTEXT_WEIGHTS",
    "NAME_PENALTIES",
]


@pytest.mark.slow
def test_calibration_chooses_on_one_split_and_reports_the_other(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    small_grid: int,
    embeddings: Any,  # the session's MiniLM, loaded once (the script shares it)
) -> None:
    right = _run(tmp_path, capsys, check_label=False)
    grid, _, check = right.partition("== check split")
    assert grid.startswith("cases: 5 calibrate (2 supported), 3 check\n")
    rows = re.findall(r"^([\d.]+ +){6}(\d\.\d{3})  (\d\.\d{3}) \((\d\.\d{3})\)$", grid, re.M)
    assert len(rows) == 10  # the best 10 of the grid
    assert rows[0][1:3] == ("1.000", "1.000")  # verbatim against off-topic: fully separable
    assert f"... {small_grid - 10} more; worst:" in grid
    assert re.search(r"^current: Weights\(.*\), threshold [\d.]+ \(grid: AUC 1\.000", grid, re.M)
    current = calibrate_citecheck.Settings().support_threshold
    table = re.findall(r"^  (\d\.\d{3}) {4}(\d\.\d{3}) .*$", grid, re.M)
    assert [float(t) for t, _ in table] == list(calibrate_citecheck.THRESHOLDS)
    assert re.search(rf"^  {current:.3f} .*<- current$", grid, re.M)
    assert "ROC AUC 1.000; supported kept 1.000, unsupported flagged 1.000" in check
    assert re.search(r"^  supported verbatim +1/1 right$", check, re.M)
    assert re.search(r"^  unsupported off-topic +2/2 right$", check, re.M)
    assert "wrong (" not in check
    assert re.search(r"one check of a 3-sentence answer citing 3 passages .*: \d+ ms", check)

    wrong = _run(tmp_path, capsys, check_label=True)  # the off-topic sentence called supported
    grid_again, _, check_again = wrong.partition("== check split")
    assert grid_again == grid  # chosen on the calibrate split alone
    assert "supported kept 0.500, unsupported flagged 1.000" in check_again
    assert re.search(r"^  supported off-topic +0/1 right$", check_again, re.M)
    assert re.search(r"wrong \(0\.\d{3}, off-topic\): The Dolphins beat", check_again)


def test_a_split_without_both_labels_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = _cases(check_label=False)
    cases[2]["claims"] = [c for c in cases[2]["claims"] if c["supported"]]
    path = tmp_path / "cases.yaml"
    path.write_text(yaml.safe_dump(cases), encoding="utf-8")
    with pytest.raises(SystemExit) as exit_:
        calibrate_citecheck.main(["--cases", str(path)])
    assert exit_.value.code == 2
    assert "split 'check' needs both supported and unsupported sentences" in capsys.readouterr().err
