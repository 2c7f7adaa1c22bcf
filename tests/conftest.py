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


# Tests whose assertions are deadlines in seconds (restart to first probe, a probe's 0.8 s timeout during a
# flood, a schedule tick within 0.3 s, a page answering while the agent starts). They hold on a quiet machine
# but not beside three other workers on two cores, so ./test.sh runs them after the parallel part, two modules at
# a time (kill -9's restart to first probe: at most 1.78 s alone, 1.90 s beside the page flood; limit 3 s).
SERIAL_MODULES = (
    "tests/reliability/test_kill9.py",
    "tests/reliability/test_clock_steps.py",
    "tests/security/test_page_flood.py",
    "tests/security/test_url_credentials.py",
)
# Real-time scenarios in network namespaces (the first hour, 20 % loss, attribution on a topology): minutes of
# probing at the agent's own pace, a fraction of a core each, with bounds of a few intervals. Not beside three
# CPU-bound workers either, but side by side they hold: ./test.sh runs these on three workers of their own
# (marked ``serial`` and ``paired``; 110 s one by one, 82 s two at a time, 57 s all three, pytest's start included;
# together they use 0.8 of a core).
PAIRED_MODULES = (
    "tests/reliability/test_first_hour_netns.py",
    "tests/reliability/test_attribution_netns.py",
    "tests/reliability/test_loss_netns.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))
    for item in items:
        path = Path(str(item.path)).relative_to(root).as_posix()
        if path in SERIAL_MODULES:
            item.add_marker(pytest.mark.serial)
        elif path in PAIRED_MODULES:
            item.add_marker(pytest.mark.serial)
            item.add_marker(pytest.mark.paired)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if anything tried to leave loopback, even if the exception was swallowed.

    Under pytest-xdist each worker hands its violations to the controller (``workeroutput``), which
    collects them in ``pytest_testnodedown`` and fails the whole run here.
    """
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller reports
        workeroutput["netguard"] = sorted(set(netguard.VIOLATIONS))
        return
    if netguard.VIOLATIONS:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("NETWORK RULE VIOLATIONS:", red=True)
            for line in sorted(set(netguard.VIOLATIONS)):
                reporter.write_line(f"  {line}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """xdist controller: gather a finished worker's network-rule violations."""
    netguard.VIOLATIONS.extend(getattr(node, "workeroutput", {}).get("netguard", []))
