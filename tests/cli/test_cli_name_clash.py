"""PyPI's ``watchdog`` (filesystem events) has our package's name: installed over ours it replaces
``watchdog/__init__.py``. The command then says what happened and how to fix it (issue 15 item 7)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOREIGN_INIT = '''"""watchdog: Python API and shell utilities to monitor file system events (a stand-in for PyPI's)."""
from watchdog.version import VERSION_STRING
'''


@pytest.fixture
def clashed(tmp_path: Path) -> Path:
    """A site directory where pip put PyPI's watchdog over ours: its __init__.py and version.py, our cli/."""
    site = tmp_path / "site"
    shutil.copytree(ROOT / "watchdog", site / "watchdog", ignore=shutil.ignore_patterns("__pycache__"))
    (site / "watchdog" / "__init__.py").write_text(FOREIGN_INIT, encoding="utf-8")
    (site / "watchdog" / "version.py").write_text('VERSION_STRING = "6.0.0"\n', encoding="utf-8")
    return site


@pytest.mark.parametrize(
    "argv",
    [
        ["-c", "import sys; from watchdog.cli import main; sys.exit(main())", "outages"],  # the console script
        ["-m", "watchdog", "outages"],
    ],
    ids=["console-script", "python-m"],
)
def test_a_foreign_watchdog_package_is_named_with_the_fix(clashed: Path, tmp_path: Path, argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(clashed)},
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    init = clashed / "watchdog" / "__init__.py"
    assert done.stderr == (
        f"error: the Python package 'watchdog' at {init} is not Outage Watchdog: another package of the same "
        "name (PyPI's 'watchdog', for file system events) was installed over it in this environment\n"
        "  fix: give Outage Watchdog an environment of its own: pipx install outage-watchdog (or a venv), "
        "or here: pip uninstall watchdog && pip install --force-reinstall outage-watchdog\n"
    )
