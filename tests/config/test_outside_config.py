"""Config of the outside proof (issue 17): timestamp, heartbeat, backup, traceroute — errors name the field.

A push or TSA URL is a secret: an error about it never quotes it.
"""

from __future__ import annotations

import pytest

from watchdog.config import loads
from watchdog.errors import ConfigError

BASE = """
providers:
  - id: isp
    targets: [{name: gw, kind: tcp, address: "127.0.0.1:9"}]
ntp: {enabled: false}
"""


def problems(extra: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        loads(BASE + extra)
    return caught.value.problems


def test_defaults_are_off() -> None:
    m = loads(BASE).model
    assert m.timestamp.tsas == [] and m.timestamp.interval == 3600.0 and m.timestamp.outage_gap == 300.0
    assert m.heartbeat.url is None and m.heartbeat.method == "GET" and m.heartbeat.interval == 60.0
    assert m.backup.dest is None and m.backup.every == 86400.0 and m.backup.keep == 7
    assert m.traceroute.enabled is False and m.traceroute.max_hops == 16 and m.traceroute.min_gap == 600.0


def test_tsa_url_error_names_the_field_not_the_url() -> None:
    found = problems('timestamp: {tsas: [{url: "ftp://user:s3cret-tsa@tsa.test/", ca_file: ca.pem}]}\n')
    assert len(found) == 1
    assert found[0].startswith("<config>:6: timestamp.tsas[0].url: ")
    assert "expected an http:// or https:// URL" in found[0]
    assert "s3cret-tsa" not in found[0]


def test_tsa_needs_a_ca_file_and_distinct_names() -> None:
    assert any("timestamp.tsas[0].ca_file" in p for p in problems('timestamp: {tsas: [{url: "https://a.test/"}]}\n'))
    dup = problems(
        "timestamp:\n  tsas:\n"
        '    - {url: "https://a.test/tsr", ca_file: a.pem}\n'
        '    - {url: "https://user:pw@a.test/other", ca_file: b.pem}\n'
    )
    assert any("two TSAs are called 'a.test': give each a distinct name" in p for p in dup)


def test_tsa_label_never_carries_credentials() -> None:
    m = loads(BASE + 'timestamp: {tsas: [{url: "https://user:pw@tsa.test/tsr", ca_file: a.pem}]}\n').model
    assert m.timestamp.tsas[0].label == "tsa.test"


def test_heartbeat_url_error_hides_the_secret() -> None:
    found = problems('heartbeat: {url: "hc-ping.test/uuid-secret-42", method: GET}\n')
    assert len(found) == 1 and "heartbeat.url" in found[0] and "uuid-secret-42" not in found[0]
    assert any("heartbeat.method" in p for p in problems('heartbeat: {url: "https://h.test/x", method: PUT}\n'))


def test_backup_and_traceroute_bounds() -> None:
    assert any("backup.keep" in p for p in problems("backup: {dest: /mnt/nas/, keep: 0}\n"))
    assert any("traceroute.max_hops" in p for p in problems("traceroute: {enabled: true, max_hops: 100}\n"))


def test_traceroute_asn_table() -> None:
    """AS numbers come only from the user's table (nothing is looked up online): prefixes and labels are checked."""
    m = loads(
        BASE + "traceroute:\n  enabled: true\n"
        '  asn: {"100.64.0.0/10": "as12389 Rostelecom", "2001:db8::/32": "64500"}\n'
    ).model
    assert m.traceroute.asn == {"100.64.0.0/10": "AS12389 Rostelecom", "2001:db8::/32": "AS64500"}
    assert loads(BASE).model.traceroute.asn == {}
    (bad_prefix,) = problems('traceroute: {asn: {"10.0.0.1/8": AS1}}\n')
    assert bad_prefix == (
        "<config>:6: traceroute.asn: '10.0.0.1/8' is not a network prefix (10.0.0.1/8 has host bits set)"
    )
    (bad_label,) = problems('traceroute: {asn: {"10.0.0.0/8": Rostelecom}}\n')
    assert bad_label == (
        "<config>:6: traceroute.asn: '10.0.0.0/8': expected an AS number like AS12389 (a name may follow), "
        "got 'Rostelecom'"
    )
