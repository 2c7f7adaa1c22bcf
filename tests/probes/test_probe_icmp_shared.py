"""The shared ICMP socket: many targets on one socket, replies matched to their own request, losses isolated."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import NetnsPair
from probe_servers import make_target, probe

from probes import icmp
from watchdog.probe import ProbeContext

RUNNER = Path(__file__).with_name("icmp_shared_run.py")


@pytest.fixture
async def privileged_ctx(ctx: ProbeContext) -> ProbeContext:
    """A context whose ICMP mode has been detected; skips where this process may not ping at all."""
    await icmp.setup_icmp(ctx, [])
    if ctx.resources[icmp.MODE_KEY] is None:
        pytest.skip("this process may open neither raw nor datagram ICMP sockets")
    return ctx


async def test_three_hundred_loopback_targets_share_one_socket(privileged_ctx: ProbeContext) -> None:
    import asyncio

    targets = [
        make_target("icmp", f"127.0.{1 + i // 250}.{1 + i % 250}", count=2, packet_interval="10ms") for i in range(300)
    ]
    # a busy machine: somebody else pings 127.0.0.1 all along (a raw socket sees their replies too)
    ping = shutil.which("ping")
    argv = (
        [ping, "-i", "0.01", "127.0.0.1"]
        if ping
        else [sys.executable, "-c", "from icmplib import ping\nping('127.0.0.1', count=2000, interval=0.005)"]
    )
    pinger = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        await asyncio.sleep(0.5)
        results = await asyncio.gather(*(probe(privileged_ctx, t) for t in targets))
    finally:
        pinger.terminate()
        await pinger.wait()
    assert [r.ok for r in results] == [True] * 300
    for target, result in zip(targets, results, strict=True):  # each result speaks of its own target
        assert result.detail.startswith(f"2 of 2 ICMP echo replies from {target.address}, rtt"), result.detail
        assert result.metrics["received"] == 2 and 0 < result.metrics["rtt_max_s"] < 0.5
    sockets = privileged_ctx.resources[icmp.SOCKETS_KEY]
    assert list(sockets) == [socket.AF_INET]  # one socket for all of them
    shared = sockets[socket.AF_INET]
    assert (shared.replies, shared.strays, shared.in_flight) == (600, 0, 0)
    if shared.privileged:  # a ping socket never sees another program's replies
        assert shared.foreign > 0  # the other pinger's replies were seen, and not counted as ours
    assert shared.kernel_timestamps


async def test_the_socket_closes_with_the_context(privileged_ctx: ProbeContext) -> None:
    assert (await probe(privileged_ctx, make_target("icmp", "127.0.0.1", count=1))).ok
    shared = privileged_ctx.resources[icmp.SOCKETS_KEY][socket.AF_INET]
    fd = shared.sock.fileno()
    await privileged_ctx.aclose()
    assert shared.closed and shared.sock.fileno() == -1
    with pytest.raises(OSError):
        os.fstat(fd)  # the descriptor is really gone


def _run(netns: NetnsPair, spec: dict[str, object], drop_net_raw: bool = False) -> dict[str, object]:
    argv = [sys.executable, str(RUNNER), json.dumps(spec)]
    done = subprocess.run(
        ["ip", "netns", "exec", netns.client, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.mark.netns
def test_a_lost_reply_holds_up_only_its_own_probe(netns: NetnsPair) -> None:
    netns.in_ns(netns.server, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1")  # the far end stays silent
    answering = [netns.client_ip] + [f"127.0.0.{i}" for i in range(1, 101)]
    out = _run(
        netns, {"answering": answering, "silent": [netns.server_ip] * 5, "count": 2, "timeout_s": 1.0, "forge": True}
    )
    results = out["results"]
    assert isinstance(results, list)
    for r in results[: len(answering)]:
        assert r["ok"], r
        assert r["detail"].startswith(f"2 of 2 ICMP echo replies from {r['address']}, rtt")
        assert r["ended_s"] < 0.4  # answered at once, although the silent ones wait on the same socket
    for r in results[len(answering) :]:
        assert (r["ok"], r["failure"]) == (False, "timeout")
        assert r["detail"] == f"no reply to 2 ICMP echo requests to {netns.server_ip}"
        assert r["metrics"] == {"sent": 2, "received": 0, "loss_ratio": 1.0}
        assert 0.8 < r["ended_s"] < 1.0  # ended on its own, before the runner's timeout
    # The forged replies carried the right identifier, sequence and nonce but came from 127.0.0.1: refused.
    assert out["forged"] == 5 and out["strays"] == 5
    assert (out["sockets"], out["in_flight"], out["replies"]) == (1, 0, 2 * len(answering))


@pytest.mark.netns
def test_icmp_errors_reach_the_right_probe_on_a_ping_socket(netns: NetnsPair) -> None:
    """Unprivileged: the shared datagram socket gets ICMP errors from its error queue (IP_RECVERR)."""
    netns.in_ns(netns.client, "sysctl", "-qw", "net.ipv4.ping_group_range=0 0")
    netns.echo_responder("unreachable")
    target = {"kind": "icmp", "address": netns.server_ip, "options": {"packet_interval": "20ms"}}
    out = netns.run(
        {"drop_net_raw": True, "setup": ["icmp"], "targets": [target, {"kind": "icmp", "address": "127.0.0.1"}]}
    )
    assert out["resources"] == {icmp.MODE_KEY: False}
    unreachable, local = out["results"]
    assert (unreachable["ok"], unreachable["failure"]) == (False, "connect")
    assert unreachable["detail"] == f"ping {netns.server_ip}: Destination host unreachable (3 of 3 requests)"
    assert local["ok"] and local["detail"].startswith("3 of 3 ICMP echo replies from 127.0.0.1, rtt")
