"""A command line imports only its own command's module (the rest cost ~0.5 s of CPU at every start)."""

from __future__ import annotations

import argparse
import subprocess
import sys

from watchdog.cli import _COMMAND_MODULES, _commands

SCRIPT = """
import sys
from watchdog.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    print("exit", exc.code, file=sys.stderr)
print("loaded:", *sorted(m for m in sys.modules if m.startswith("watchdog.cli.")), file=sys.stderr)
"""


def _run(*argv: str) -> tuple[list[str], str]:
    out = subprocess.run([sys.executable, "-c", SCRIPT, *argv], capture_output=True, text=True, check=True)
    loaded = next(line for line in out.stderr.splitlines() if line.startswith("loaded:")).split()[1:]
    return loaded, out.stdout + out.stderr


def test_the_table_names_every_command_its_module_registers() -> None:
    registered = {}
    for module in _commands():
        sub = argparse.ArgumentParser().add_subparsers()
        module.register(sub)
        registered.update(dict.fromkeys(sub.choices, module.__name__.removeprefix("watchdog.cli.")))
    assert registered == _COMMAND_MODULES


def test_a_command_imports_its_module_alone() -> None:
    loaded, text = _run("outages", "--help")
    assert loaded == ["watchdog.cli.outages"], text
    assert "usage: watchdog outages" in text and "exit 0" in text
    loaded, text = _run("migrate", "--help")  # a module registering several commands
    assert loaded == ["watchdog.cli.backup"], text


def test_help_and_a_typo_still_see_every_command() -> None:
    loaded, text = _run("--help")
    assert set(_COMMAND_MODULES.values()) <= {m.removeprefix("watchdog.cli.") for m in loaded}, text
    assert all(name in text for name in _COMMAND_MODULES), text
    loaded, text = _run("outage")  # argparse names the valid choices, so it needs them all
    assert "invalid choice: 'outage'" in text and "outages" in text and "exit 2" in text, text
