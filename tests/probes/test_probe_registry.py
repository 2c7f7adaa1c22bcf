"""The registry holds all five kinds, and config validates each kind's block and address through it."""

from __future__ import annotations

import pytest

from probes import REGISTRY
from watchdog.config import loads
from watchdog.errors import ConfigError

CONFIG = """
controls:
  lan:
    - {name: router, kind: icmp, address: 127.0.0.1, icmp: {count: 5, packet_interval: 100ms}}
  internet:
    - {name: anchor, kind: tcp, address: "127.0.0.1:443"}
providers:
  - id: isp
    targets:
      - {name: web, kind: http, address: "https://127.0.0.1:8443/", http: {expect_status: [200, 204]}}
      - {name: resolver, kind: dns, address: "127.0.0.1:5353", dns: {query_name: example.com, query_type: aaaa}}
      - {name: cert, kind: tls, address: localhost, tls: {min_days_left: 30}}
"""


def test_all_kinds_registered() -> None:
    assert sorted(REGISTRY) == ["dns", "http", "icmp", "speed", "tcp", "tls"]
    assert all(probe.check_address is not None for probe in REGISTRY.values())
    assert [kind for kind, probe in REGISTRY.items() if probe.setup is not None] == ["icmp"]


def test_config_builds_each_kinds_options() -> None:
    targets = {t.name: t for t in loads(CONFIG, env={}).targets}
    assert (targets["router"].options.count, targets["router"].options.packet_interval) == (5, 0.1)
    assert targets["web"].options.expect_status == [200, 204]
    assert targets["resolver"].options.query_type == "AAAA"
    assert targets["cert"].options.min_days_left == 30
    assert type(targets["anchor"].options).__name__ == "TcpOptions"


@pytest.mark.parametrize(
    ("before", "after", "problem"),
    [
        (
            "icmp: {count: 5,",
            "icmp: {counts: 5,",
            "<config>:4: controls.lan[0].icmp.counts: unknown key "
            "(allowed: count, max_loss_ratio, packet_interval, payload_size)",
        ),
        (
            "address: localhost",
            "address: 'localhost:https'",
            "<config>:12: providers[0].targets[2].address: bad port 'https' in 'localhost:https'",
        ),
        (
            "query_type: aaaa",
            "query_type: 28",
            "<config>:11: providers[0].targets[1].dns.query_type: input should be a valid string, got int 28",
        ),
        (
            '"https://127.0.0.1:8443/"',
            '"ftp://127.0.0.1/"',
            "<config>:10: providers[0].targets[0].address: expected an http:// or https:// URL, got 'ftp://127.0.0.1/'",
        ),
    ],
)
def test_config_reports_option_and_address_problems(before: str, after: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        loads(CONFIG.replace(before, after), env={})
    assert caught.value.problems == [problem]
