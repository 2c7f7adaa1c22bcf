"""Shared test set-up: tests/ on the path for helpers, and the network rule enforced for the session.

The network rule: tests send traffic only to 127.0.0.0/8 or ::1 (or hosts inside network namespaces a
test creates, which only subprocesses started inside those namespaces reach). See tests/netguard.py.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parent))  # after the packages: tests/probes must not shadow probes

import netguard


@pytest.fixture(autouse=True, scope="session")
def _network_rule() -> Iterator[None]:
    with netguard.guarded():
        yield


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if anything tried to leave loopback, even if the exception was swallowed."""
    if netguard.VIOLATIONS:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("NETWORK RULE VIOLATIONS:", red=True)
            for line in sorted(set(netguard.VIOLATIONS)):
                reporter.write_line(f"  {line}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
