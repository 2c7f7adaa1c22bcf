"""The package on disk is ``watchdog/`` but PyPI's ``watchdog`` is an unrelated library: make sure ours loads."""

from __future__ import annotations

from pathlib import Path

import watchdog


def test_import_watchdog_is_ours() -> None:
    root = Path(__file__).resolve().parent.parent
    assert Path(watchdog.__file__).resolve() == root / "watchdog" / "__init__.py"
    assert watchdog.__doc__ is not None and "Outage Watchdog" in watchdog.__doc__
