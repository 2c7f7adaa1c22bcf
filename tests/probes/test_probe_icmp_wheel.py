"""The agent's ICMP timer wheel against a far end that loses, stays silent or answers with errors.

The same targets go through the wheel (``watchdog.agent.icmp_driver``) and through the runner
(``run_probe``), one probe at a time, in the same namespace: every verdict, detail and metric the journal
keeps must be the same (round-trip times aside, which differ from probe to probe).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import NetnsPair

pytestmark = [pytest.mark.netns, pytest.mark.serial]

RTT = re.compile(r"rtt min/avg/max [0-9.]+/[0-9.]+/[0-9.]+ ms")


def both(netns: NetnsPair, targets: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The results of ``targets`` through the wheel and through the runner."""
    wheel = netns.run({"setup": ["icmp"], "targets": targets, "wheel": True, "gap_s": 1.0})["results"]
    task = netns.run({"setup": ["icmp"], "targets": targets})["results"]
    return wheel, task


def journaled(result: dict[str, Any]) -> tuple[Any, ...]:
    metrics = {k: v for k, v in result["metrics"].items() if not k.startswith("rtt_")}
    return (result["ok"], result["failure"], RTT.sub("rtt <RTT>", result["detail"]), metrics)


def test_partial_loss_on_the_wheel(netns: NetnsPair) -> None:
    netns.echo_responder("even")  # answers even sequence numbers: each probe of 4 requests gets 2 replies
    base = {"kind": "icmp", "address": netns.server_ip, "timeout_s": 1.0}
    targets = [
        {**base, "options": {"count": 4, "packet_interval": "20ms"}},
        {**base, "options": {"count": 4, "packet_interval": "20ms", "max_loss_ratio": 0.25}},
    ]
    wheel, task = both(netns, targets)
    assert [journaled(r) for r in wheel] == [journaled(r) for r in task]
    passed, failed = wheel
    assert journaled(passed) == (
        True,
        None,
        f"2 of 4 ICMP echo replies from {netns.server_ip}, rtt <RTT>",
        {"sent": 4, "received": 2, "loss_ratio": 0.5},
    )
    assert journaled(failed) == (
        False,
        "unexpected",
        f"2 of 4 ICMP echo requests to {netns.server_ip} lost (loss 50% > max_loss_ratio 0.25)",
        {"sent": 4, "received": 2, "loss_ratio": 0.5},
    )
    assert set(failed["metrics"]) == set(task[1]["metrics"])  # the RTTs of the two replies too


def test_silence_and_errors_on_the_wheel(netns: NetnsPair) -> None:
    netns.in_ns(netns.server, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1")  # silent
    target = {"kind": "icmp", "address": netns.server_ip, "timeout_s": 1.0, "options": {"count": 2}}
    wheel, task = both(netns, [target])
    assert [journaled(r) for r in wheel] == [journaled(r) for r in task]
    assert wheel[0]["detail"] == f"no reply to 2 ICMP echo requests to {netns.server_ip}"
    assert (wheel[0]["failure"], wheel[0]["metrics"]) == ("timeout", {"sent": 2, "received": 0, "loss_ratio": 1.0})
    assert 0.8 < wheel[0]["latency_s"] < 1.0  # ended on its own, before the timeout, as the runner's does

    netns.echo_responder("unreachable")
    target = {"kind": "icmp", "address": netns.server_ip, "options": {"packet_interval": "20ms"}}
    wheel, task = both(netns, [target])
    assert [journaled(r) for r in wheel] == [journaled(r) for r in task]
    assert wheel[0]["detail"] == f"ping {netns.server_ip}: Destination host unreachable (3 of 3 requests)"

    netns.ip("-n", netns.client, "link", "set", netns.client_dev, "down")  # the OS refuses to send
    wheel, task = both(netns, [target])
    assert [journaled(r) for r in wheel] == [journaled(r) for r in task]
    assert wheel[0]["detail"] == f"ping {netns.server_ip}: Network is unreachable"
    assert (wheel[0]["failure"], wheel[0]["metrics"]) == ("connect", {"sent": 0, "received": 0, "loss_ratio": 1.0})
