"""Names that do not resolve, for every probe kind, without a single query leaving the machine.

The system resolver here would ask a real name server, so these tests run the probes in a network
namespace whose resolv.conf (``/etc/netns/NAME/resolv.conf``, which ``ip netns exec`` mounts over
/etc/resolv.conf) points at 127.0.0.1 inside that namespace, where our own responder answers NXDOMAIN.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import NetnsPair

NAME = "nonexistent.invalid"  # RFC 6761: .invalid never resolves


def _hosts_sources() -> list[str]:
    try:
        text = Path("/etc/nsswitch.conf").read_text()
    except OSError:
        return ["files", "dns"]  # glibc's default when the file is missing
    match = re.search(r"^hosts:\s*(.*)$", text, re.MULTILINE)
    return match.group(1).split() if match else ["files", "dns"]


@pytest.mark.netns
def test_unresolvable_names(netns: NetnsPair) -> None:
    extra = [source for source in _hosts_sources() if source not in ("files", "dns")]
    if extra:  # e.g. nss-resolve asks systemd-resolved over D-Bus, outside the namespace
        pytest.skip(f"nsswitch.conf hosts: has {' '.join(extra)}, which bypass resolv.conf")
    netns.resolv_conf("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    targets = [
        {"kind": "icmp", "address": NAME},
        {"kind": "tcp", "address": f"{NAME}:443"},
        {"kind": "http", "address": f"https://{NAME}/health"},
        {"kind": "tls", "address": NAME},
        {"kind": "dns", "address": NAME, "options": {"query_name": "example.com"}},
    ]
    results = netns.run({"resolver": True, "targets": targets})["results"]
    assert [(r["ok"], r["failure"], r["detail"]) for r in results] == [
        (False, "resolve", f"resolve {NAME}: Name or service not known"),
    ] * len(targets)
