"""The ICMP probe: privilege detection and pings on loopback, and loss on a veth pair between namespaces."""

from __future__ import annotations

import os
import re
import socket

import pytest
from conftest import NetnsPair
from probe_servers import make_target, probe
from pydantic import ValidationError

from probes import icmp
from probes.icmp import IcmpOptions
from watchdog.model import FailureKind
from watchdog.probe import ProbeContext

HAS_IPV6 = socket.has_ipv6 and os.path.exists("/proc/net/if_inet6")
RTT = r"\d+\.\d{3}/\d+\.\d{3}/\d+\.\d{3} ms"


@pytest.fixture
async def privileged_ctx(ctx: ProbeContext) -> ProbeContext:
    """A context whose ICMP mode has been detected; skips where this process may not ping at all."""
    assert await icmp.setup_icmp(ctx, []) in ([], [icmp.NO_PERMISSION])
    if ctx.resources[icmp.MODE_KEY] is None:
        pytest.skip("this process may open neither raw nor datagram ICMP sockets")
    return ctx


async def test_setup_detects_raw_sockets_as_root(ctx: ProbeContext) -> None:
    if os.geteuid() != 0:
        pytest.skip("raw ICMP sockets need root (or CAP_NET_RAW)")
    assert await icmp.setup_icmp(ctx, []) == []
    assert ctx.resources[icmp.MODE_KEY] is True


async def test_ping_loopback(privileged_ctx: ProbeContext) -> None:
    result = await probe(privileged_ctx, make_target("icmp", "127.0.0.1", packet_interval="10ms"))
    assert (result.ok, result.failure) == (True, None)
    assert re.fullmatch(f"3 of 3 ICMP echo replies from 127.0.0.1, rtt min/avg/max {RTT}", result.detail)
    assert {k: result.metrics[k] for k in ("sent", "received", "loss_ratio")} == {
        "sent": 3,
        "received": 3,
        "loss_ratio": 0,
    }
    assert 0 < result.metrics["rtt_min_s"] <= result.metrics["rtt_avg_s"] <= result.metrics["rtt_max_s"] < 0.5
    assert result.latency_s == result.metrics["rtt_avg_s"]


async def test_ping_loopback_by_name(privileged_ctx: ProbeContext) -> None:
    result = await probe(privileged_ctx, make_target("icmp", "localhost", count=1))  # from /etc/hosts
    assert result.ok and result.detail.startswith("1 of 1 ICMP echo replies from localhost (127.0.0.1), rtt")


@pytest.mark.skipif(not HAS_IPV6, reason="no IPv6 here")
async def test_ping_ipv6_loopback(privileged_ctx: ProbeContext) -> None:
    result = await probe(privileged_ctx, make_target("icmp", "::1", count=2, packet_interval="10ms"))
    assert result.ok and result.detail.startswith("2 of 2 ICMP echo replies from ::1, rtt"), result.detail


async def test_lazy_detection_without_setup(ctx: ProbeContext) -> None:
    if os.geteuid() != 0:
        pytest.skip("raw ICMP sockets need root (or CAP_NET_RAW)")
    result = await probe(ctx, make_target("icmp", "127.0.0.1", count=1))
    assert result.ok and ctx.resources[icmp.MODE_KEY] is True


async def test_no_permission_is_internal_not_the_targets_fault(ctx: ProbeContext) -> None:
    ctx.resources[icmp.MODE_KEY] = None  # what setup records when neither socket kind may be opened
    result = await probe(ctx, make_target("icmp", "127.0.0.1"))
    assert (result.ok, result.failure, result.counts) == (False, FailureKind.INTERNAL, False)
    assert result.detail == icmp.NO_PERMISSION


def test_reply_wait_fits_the_timeout() -> None:
    options = IcmpOptions.model_validate({"count": 3, "packet_interval": "200ms"})
    assert icmp.reply_wait_s(5.0, options) == pytest.approx((4.5 - 0.4) / 3)
    assert icmp.reply_wait_s(0.2, options) == 0.05  # a timeout too short for the packets: a floor, not nonsense


# ------------------------------------------------------------------------------------------ namespaces


@pytest.mark.netns
def test_link_up_then_far_end_down(netns: NetnsPair) -> None:
    target = {"kind": "icmp", "address": netns.server_ip, "timeout_s": 1.0, "options": {"packet_interval": "50ms"}}
    up = netns.run({"setup": ["icmp"], "targets": [target]})
    assert up["setup"] == {"icmp": []} and up["resources"] == {icmp.MODE_KEY: True}
    [ok] = up["results"]
    assert (ok["ok"], ok["failure"]) == (True, None)
    assert re.fullmatch(f"3 of 3 ICMP echo replies from {netns.server_ip}, rtt min/avg/max {RTT}", ok["detail"])
    assert {k: ok["metrics"][k] for k in ("sent", "received", "loss_ratio")} == {
        "sent": 3,
        "received": 3,
        "loss_ratio": 0,
    }

    netns.ip("-n", netns.server, "link", "set", netns.server_dev, "down")
    [down] = netns.run({"targets": [target]})["results"]
    assert (down["ok"], down["failure"]) == (False, "timeout")
    assert down["detail"] == f"no reply to 3 ICMP echo requests to {netns.server_ip}"
    assert down["metrics"] == {"sent": 3, "received": 0, "loss_ratio": 1.0}
    assert 0.8 < down["latency_s"] < 1.0  # ended on its own, before the runner's 1 s timeout


@pytest.mark.netns
def test_own_link_down_is_unreachable(netns: NetnsPair) -> None:
    netns.ip("-n", netns.client, "link", "set", netns.client_dev, "down")
    [result] = netns.run({"targets": [{"kind": "icmp", "address": netns.server_ip}]})["results"]
    assert (result["ok"], result["failure"]) == (False, "connect")
    assert result["detail"] == f"ping {netns.server_ip}: Network is unreachable"
    assert result["metrics"] == {"sent": 0, "received": 0, "loss_ratio": 1.0}


@pytest.mark.netns
def test_partial_loss_against_max_loss_ratio(netns: NetnsPair) -> None:
    netns.echo_responder("even")  # answers sequence 0 and 2 of 0..3
    base = {"kind": "icmp", "address": netns.server_ip, "timeout_s": 1.0}
    at_limit = {**base, "options": {"count": 4, "packet_interval": "20ms"}}
    over = {**base, "options": {"count": 4, "packet_interval": "20ms", "max_loss_ratio": 0.25}}
    passed, failed = netns.run({"targets": [at_limit, over]})["results"]
    assert (passed["ok"], passed["detail"].split(",")[0]) == (True, f"2 of 4 ICMP echo replies from {netns.server_ip}")
    assert (failed["ok"], failed["failure"]) == (False, "unexpected")
    assert failed["detail"] == (f"2 of 4 ICMP echo requests to {netns.server_ip} lost (loss 50% > max_loss_ratio 0.25)")
    for result in (passed, failed):
        assert {k: result["metrics"][k] for k in ("sent", "received", "loss_ratio")} == {
            "sent": 4,
            "received": 2,
            "loss_ratio": 0.5,
        }


@pytest.mark.netns
def test_icmp_error_replies_are_unreachable(netns: NetnsPair) -> None:
    netns.echo_responder("unreachable")
    target = {"kind": "icmp", "address": netns.server_ip, "options": {"packet_interval": "20ms"}}
    [result] = netns.run({"targets": [target]})["results"]
    assert (result["ok"], result["failure"]) == (False, "connect")
    assert result["detail"] == f"ping {netns.server_ip}: Destination host unreachable (3 of 3 requests)"
    assert result["metrics"] == {"sent": 3, "received": 0, "loss_ratio": 1.0}


@pytest.mark.netns
def test_unprivileged_fallback(netns: NetnsPair) -> None:
    netns.in_ns(netns.client, "sysctl", "-qw", "net.ipv4.ping_group_range=0 0")  # root's group may use ping sockets
    target = {"kind": "icmp", "address": netns.server_ip, "options": {"packet_interval": "20ms"}}
    out = netns.run({"drop_net_raw": True, "setup": ["icmp"], "targets": [target]})
    assert out["setup"] == {"icmp": []} and out["resources"] == {icmp.MODE_KEY: False}
    [result] = out["results"]
    assert result["ok"] and result["detail"].startswith(f"3 of 3 ICMP echo replies from {netns.server_ip}, rtt")


@pytest.mark.netns
def test_no_permission_at_all(netns: NetnsPair) -> None:
    netns.in_ns(netns.client, "sysctl", "-qw", "net.ipv4.ping_group_range=1 0")  # the kernel's default
    target = {"kind": "icmp", "address": netns.server_ip}
    out = netns.run({"drop_net_raw": True, "setup": ["icmp"], "targets": [target]})
    assert out["setup"] == {"icmp": [icmp.NO_PERMISSION]} and out["resources"] == {icmp.MODE_KEY: None}
    [result] = out["results"]
    assert (result["ok"], result["failure"]) == (False, "internal")
    assert result["detail"] == icmp.NO_PERMISSION


# --------------------------------------------------------------------------------------------- options


def test_option_defaults() -> None:
    options = IcmpOptions.model_validate({})
    assert (options.count, options.packet_interval, options.max_loss_ratio, options.payload_size) == (3, 0.2, 0.5, 56)
    assert IcmpOptions.model_validate({"packet_interval": "1s", "max_loss_ratio": 0}).packet_interval == 1.0


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"interval": "1s"}, "Extra inputs are not permitted"),
        ({"count": 0}, "Input should be greater than or equal to 1"),
        ({"count": "3"}, "Input should be a valid integer"),
        ({"packet_interval": 0.2}, "expected a duration like 500ms"),
        ({"packet_interval": "0s"}, "must be longer than zero"),
        ({"max_loss_ratio": 1.5}, "Input should be less than or equal to 1"),
        ({"payload_size": -1}, "Input should be greater than or equal to 0"),
    ],
)
def test_option_errors(block: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        IcmpOptions.model_validate(block)


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", None),
        ("::1", None),
        ("fe80::1", None),
        ("router.lan", None),
        ("localhost", None),
        ("127.0.0.1:80", "expected a host name or IP address without a port, got '127.0.0.1:80'"),
        ("[::1]", "expected a host name or IP address without a port, got '[::1]'"),
        ("http://router/", "expected a host name or IP address without a port, got 'http://router/'"),
        ("bad host", "not a valid host name: 'bad host'"),
        ("a..b", "not a valid host name: 'a..b'"),
        ("-x", "not a valid host name: '-x'"),
    ],
)
def test_check_address(address: str, problem: str | None) -> None:
    assert icmp.check_address(address) == problem
