"""The layout by stage holds: import-linter's contracts (pyproject.toml) pass, and they do catch a breach.

``./test.sh`` runs ``lint-imports`` itself; these tests also show, on a copy of the tree, that a new import
circle or an import against the pipeline's direction makes it fail — so the contract is not vacuous.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = str(Path(sys.executable).with_name("lint-imports"))


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT, "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120, check=False, env={"PATH": ""}
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the packages and pyproject.toml, to break on purpose."""
    for name in ("watchdog", "probes"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contracts_hold_on_the_tree() -> None:
    proc = _lint(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Contracts: 2 kept, 0 broken." in proc.stdout


def test_the_agent_importing_a_document_breaks_the_layers(tree: Path) -> None:
    with (tree / "watchdog/agent/state.py").open("a", encoding="utf-8") as f:
        f.write("\nfrom watchdog.documents import chart  # noqa: E402\n")
    proc = _lint(tree)
    assert proc.returncode == 1
    assert "watchdog.agent.state -> watchdog.documents.chart" in proc.stdout


def test_a_circle_between_siblings_breaks_the_contract(tree: Path) -> None:
    # the circle issue 12 broke: report ← letter (report used to take the letter's Formatter)
    with (tree / "watchdog/documents/report.py").open("a", encoding="utf-8") as f:
        f.write("\nfrom watchdog.documents import letter  # noqa: E402\n")
    proc = _lint(tree)
    assert proc.returncode == 1
    assert "no import circle between the sibling modules of any package BROKEN" in proc.stdout
    assert ".report -> .letter" in proc.stdout
