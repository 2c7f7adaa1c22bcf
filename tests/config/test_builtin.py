"""The built-in default (issue 15 item 1): what the machine reports → a commented config that loads.

Discovery reads files under a root the test writes (a /proc/net/route, a resolv.conf, an /etc/localtime
link); nothing is probed. The public anchor addresses below are only compared as strings in the config
that comes out: no socket is opened in this file (the in-process network guard would fail the run).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from watchdog.config import loads
from watchdog.config.builtin import (
    BUILTIN_NAME,
    NewProvider,
    NewTarget,
    agent_name,
    builtin_config,
    describe,
    discover,
    parse_anchors,
    parse_ipv4_routes,
    parse_ipv6_routes,
    parse_resolv_conf,
    render,
    zone_name,
)
from watchdog.documents.rulebook import check_config

ROUTE = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
    "eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
    "eth0\t0000000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n"
)
IPV6_ROUTE = (
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth0\n"
    "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "20010db8000000000000000000000001 00000200 00000001 00000000 00000003 wwan0\n"
)


def test_default_gateways_from_the_routing_tables() -> None:
    assert parse_ipv4_routes(ROUTE) == ["10.0.0.1", "192.168.1.1"]  # lowest metric first; not the /24
    assert parse_ipv4_routes("Iface\tDestination\n") == []
    assert parse_ipv6_routes(IPV6_ROUTE) == ["2001:db8::1", "fe80::1%eth0"]


def test_resolvers_loopback_stubs_apart() -> None:
    text = (
        "# generated\nnameserver 127.0.0.53\nnameserver 192.168.1.1  # the router\n"
        "nameserver fe80::1%eth0\nnameserver ::1\nnameserver 2001:db8::53\nsearch lan\nnameserver bogus\n"
    )
    assert parse_resolv_conf(text) == (["192.168.1.1", "2001:db8::53"], ["127.0.0.53", "::1"])


def test_zone(tmp_path: Path) -> None:
    assert zone_name({"TZ": ":Europe/Moscow"}, tmp_path) == "Europe/Moscow"
    assert zone_name({}, tmp_path) == "UTC"
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "localtime").symlink_to("/usr/share/zoneinfo/posix/Asia/Tokyo")
    assert zone_name({"TZ": "Not/AZone"}, tmp_path) == "Asia/Tokyo"
    (tmp_path / "etc" / "localtime").unlink()
    (tmp_path / "etc" / "timezone").write_text("Europe/Berlin\n")
    assert zone_name({}, tmp_path) == "Europe/Berlin"


def test_agent_name() -> None:
    assert agent_name("raspberrypi.local") == "raspberrypi"
    assert agent_name("my host!") == "my-host"
    assert agent_name("-x-") == "x"
    assert agent_name("") == "home"


def test_anchor_lists() -> None:
    anchors = parse_anchors("10.0.0.1:53, [2001:db8::1]:53 host.lan:443", "WATCHDOG_ANCHORS")
    assert [(a.name, a.address) for a in anchors] == [
        ("anchor1", "10.0.0.1:53"),
        ("anchor2", "[2001:db8::1]:53"),
        ("anchor3", "host.lan:443"),
    ]
    with pytest.raises(ValueError) as bad:
        parse_anchors("1.1.1.1", "WATCHDOG_ANCHORS")
    assert str(bad.value) == "WATCHDOG_ANCHORS: '1.1.1.1' is not host:port (e.g. 1.1.1.1:53)"
    with pytest.raises(ValueError) as empty:
        parse_anchors(" , ", "--anchor")
    assert str(empty.value) == "--anchor: no anchors given"


def machine(root: Path, route: str = ROUTE, resolv: str = "nameserver 10.0.0.1\n") -> Path:
    (root / "proc" / "net").mkdir(parents=True)
    (root / "proc" / "net" / "route").write_text(route)
    (root / "etc").mkdir()
    (root / "etc" / "resolv.conf").write_text(resolv)
    return root


def test_builtin_default_loads(tmp_path: Path) -> None:
    found = discover({"TZ": "Europe/Moscow"}, root=machine(tmp_path), icmp=True, hostname="pi.home")
    config = builtin_config(found, checks=(check_config,))
    assert config.path is None
    assert (config.agent.id, config.agent.timezone, str(config.journal_path)) == (
        "pi",
        "Europe/Moscow",
        "data/journal.sqlite3",
    )
    assert [(t.key, t.kind, t.address) for t in config.targets] == [
        ("lan/gateway", "icmp", "10.0.0.1"),
        ("internet/cloudflare-dns", "tcp", "1.1.1.1:53"),
        ("internet/google-dns", "tcp", "8.8.8.8:53"),
        ("internet/quad9-dns", "tcp", "9.9.9.9:53"),
        ("isp/dns1", "dns", "10.0.0.1"),
    ]
    assert config.quorum == 2
    assert [(p.id, p.kind.value, p.display_name) for p in config.providers] == [("isp", "isp", "ISP")]
    assert config.model.ntp.enabled is True
    assert describe(found) == [
        "No watchdog.yaml here: watching your own internet line with the built-in default.",
        "  your router (default gateway): 10.0.0.1, by ping",
        "  internet anchors: 1.1.1.1:53, 8.8.8.8:53, 9.9.9.9:53; your line works while 2 answer",
        "  your ISP: name lookups through 10.0.0.1 (from /etc/resolv.conf)",
    ]


def test_no_icmp_no_route_loopback_stub_only(tmp_path: Path) -> None:
    """TCP to the router's DNS port without ICMP; with only a stub resolver the ISP lookup goes to an anchor."""
    root = machine(tmp_path, resolv="nameserver 127.0.0.53\n")
    env = {"WATCHDOG_ANCHORS": "10.9.0.1:53,10.9.0.2:53", "WATCHDOG_NTP": "off"}
    found = discover(env, root=root, icmp=False, hostname="box")
    config = builtin_config(found)
    assert [(t.key, t.kind, t.address) for t in config.targets] == [
        ("lan/gateway", "tcp", "10.0.0.1:53"),
        ("internet/anchor1", "tcp", "10.9.0.1:53"),
        ("internet/anchor2", "tcp", "10.9.0.2:53"),
        ("isp/dns1", "dns", "10.9.0.1"),
    ]
    assert (config.quorum, config.model.ntp.enabled, found.skipped_resolvers) == (2, False, ("127.0.0.53",))
    assert describe(found)[1:] == [
        "  your router (default gateway): 10.0.0.1, by TCP port 53 (ping is not permitted to this process)",
        "  internet anchors (from WATCHDOG_ANCHORS): 10.9.0.1:53, 10.9.0.2:53; your line works while 2 answer",
        "  your ISP: name lookups across its network, asked of 10.9.0.1",
    ]

    nothing = discover({"WATCHDOG_NTP": "10.9.0.1:123"}, root=tmp_path / "empty", icmp=True, hostname="box")
    config = builtin_config(nothing)
    assert config.model.controls.lan == []
    assert [t.key for t in config.targets] == [
        "internet/cloudflare-dns",
        "internet/google-dns",
        "internet/quad9-dns",
        "isp/dns1",
    ]
    assert config.model.ntp.servers == ["10.9.0.1:123"]
    assert describe(nothing)[1] == "  your router: no default route in /proc/net/route, so no LAN control"


def test_ipv6_only_gateway_by_tcp(tmp_path: Path) -> None:
    root = machine(tmp_path, route="Iface\tDestination\n", resolv="nameserver 2001:db8::53\n")
    (root / "proc" / "net" / "ipv6_route").write_text(IPV6_ROUTE)
    config = builtin_config(discover({}, root=root, icmp=False, hostname="v6"))
    assert [(t.key, t.address) for t in config.targets if t.key in ("lan/gateway", "isp/dns1")] == [
        ("lan/gateway", "[2001:db8::1]:53"),
        ("isp/dns1", "[2001:db8::53]:53"),
    ]


def test_rendered_provider_round_trips(tmp_path: Path) -> None:
    """A name with quotes, a dollar and Cyrillic comes back as written (no ${VAR} expansion)."""
    found = discover({}, root=machine(tmp_path), icmp=True, hostname="pi")
    provider = NewProvider(
        id="broker",
        name='ИТ "Инвест" $HOME',
        kind="broker",
        targets=(NewTarget("trade-443", "tcp", "trade.example.ru:443"), NewTarget("web", "http", "https://x.ru/")),
    )
    text = render(found, provider)
    config = loads(text, filename="watchdog.yaml", env={"HOME": "/root"}, checks=(check_config,))
    broker = config.provider("broker")
    assert (broker.display_name, broker.kind.value) == ('ИТ "Инвест" $HOME', "broker")
    assert [(t.key, t.kind, t.address) for t in config.targets_of("broker")] == [
        ("broker/trade-443", "tcp", "trade.example.ru:443"),
        ("broker/web", "http", "https://x.ru/"),
    ]
    assert text.startswith("# Outage Watchdog — written by watchdog init from what this machine reports.\n")
    assert BUILTIN_NAME == "<built-in default>"
