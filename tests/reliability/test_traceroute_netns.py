"""The path at the moment of failure (issue 17 item 4) on a real three-namespace line.

::

    client ── r1 ── far
     agent    router  service (a TCP listener)

Every address is a /30 on a veth pair the test creates (10.213.0.0/16, nowhere else). The agent is the
real ``watchdog run`` started with ``ip netns exec client``. The far link is taken down (far's end, so
r1 loses its route there and answers "network unreachable"): the traceroute journaled at the outage's
opening ends at r1; after the repair the one journaled at the close reaches the service through r1.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults import AgentProcess, Topology, first_result_after, netns_unavailable, wait_until

from watchdog.agent.traceroute import target_host
from watchdog.cli import main
from watchdog.documents.pack.verify import verify_pack
from watchdog.journal.store import Journal
from watchdog.journal.verify import verify_journal
from watchdog.model import Role, Target

pytestmark = [pytest.mark.netns, pytest.mark.slow]

PORT = 8443
LISTENER = (
    "import socket\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    f"s.bind(('0.0.0.0', {PORT})); s.listen(64)\n"
    "while True:\n"
    "    c, _ = s.accept(); c.close()\n"
)


@pytest.fixture
def topo() -> Iterator[Topology]:
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    topology = Topology()
    try:
        yield topology
    finally:
        topology.close()


def traces(journal: Path) -> list[dict]:
    if not journal.exists():
        return []
    with Journal.open(journal, create=False, readonly=True) as j:
        rows = j.conn.execute("SELECT data FROM events WHERE type = 'traceroute' ORDER BY seq").fetchall()
    return [json.loads(r[0]) for r in rows]


def test_journaled_path_ends_at_the_right_hop(topo: Topology, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    _client_ip, r1_near = topo.link("client", "r1")
    r1_far, far_ip = topo.link("r1", "far")
    topo.route("client", "default", "via", r1_near)
    topo.route("far", "default", "via", r1_far)
    topo.forward("r1")
    # Linux rate-limits the ICMP errors a router sends (1 per second per peer, after a burst); the host
    # unreachables r1 sends for the probes queued on the dead link would use that up and hide r1's answer
    # at the close. Real routers do this too (a silent hop is not evidence); here r1 answers every time.
    topo.exec("r1", "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0")
    topo.spawn("far", sys.executable, "-c", LISTENER)
    r1_net = ipaddress.ip_interface(f"{r1_near}/30").network  # the operator's side: the user's AS table names it
    config = tmp_path / "watchdog.yaml"
    config.write_text(
        f"""
agent: {{id: trace, timezone: UTC, data_dir: "{tmp_path / "data"}"}}
ntp: {{enabled: false}}  # the default servers are public: never asked from a test
web: {{enabled: false}}
defaults: {{interval: 1s, timeout: 500ms, failure_threshold: 2, success_threshold: 1}}
providers:
  - id: svc
    targets: [{{name: api, kind: tcp, address: "{far_ip}:{PORT}"}}]
traceroute: {{enabled: true, max_hops: 6, timeout: 300ms, min_gap: 10m, asn: {{"{r1_net}": AS64512 Test ISP}}}}
"""
    )
    config.chmod(0o600)
    journal = tmp_path / "data" / "journal.sqlite3"
    agent = AgentProcess(config, tmp_path / "agent.log", prefix=["ip", "netns", "exec", topo.ns("client")])
    try:
        agent.start()
        wait_until(lambda: first_result_after(journal, agent.started_ns), 30, "a first probe")
        topo.down("far", "r1")  # the far link dies at far's end
        wait_until(lambda: len(traces(journal)) >= 1, 30, "the traceroute at the outage's opening")
        topo.up("far", "r1")
        topo.route("far", "default", "via", r1_far)  # the kernel flushed it with the link
        wait_until(lambda: len(traces(journal)) >= 2, 30, "the traceroute at the outage's close")
        assert agent.stop() == 0
    finally:
        agent.close()
    opened, closed = traces(journal)[:2]
    assert opened["trigger"] == "outage_opened"
    assert opened["address"] == far_ip
    # r1 still answers for itself; beyond it the dead link swallows everything: the path ends at r1
    assert [(h[0], h[1], h[3]) for h in opened["hops"]] == [
        (1, r1_near, "time_exceeded"),
        (2, None, "silent"),
        (3, None, "silent"),
        (4, None, "silent"),
    ]
    assert opened["ended_at"] == r1_near and opened["ended_ttl"] == 1
    assert opened["ended_asn"] == "AS64512 Test ISP" and opened["asns"] == {r1_near: "AS64512 Test ISP"}
    assert opened["reached"] is False and opened["stopped"] == "silent"
    assert opened["seconds"] < 6 * 0.3 + 1  # bounded: three silent hops stop it
    assert closed["trigger"] == "outage_closed"
    assert [(h[0], h[1], h[3]) for h in closed["hops"]] == [(1, r1_near, "time_exceeded"), (2, far_ip, "reached")]
    assert closed["reached"] is True and closed["ended_at"] == far_ip
    assert "ended_asn" not in closed  # far's address is in no prefix of the table: no AS is claimed
    with Journal.open(journal, create=False, readonly=True) as j:
        refs = j.conn.execute("SELECT ref FROM events WHERE type = 'traceroute' ORDER BY seq").fetchall()
        kinds = {int(seq): t for seq, t in j.conn.execute("SELECT seq, type FROM events WHERE type LIKE 'outage_%'")}
    assert [kinds[r[0]] for r in refs[:2]] == ["outage_open", "outage_close"]  # each refers to its outage event
    assert verify_journal(journal).ok
    # the report says where the route ended when the outage opened
    for lang, sentence in [
        ("en", f"the route to {far_ip} ended at hop 1 ({r1_near}, AS64512 Test ISP) when the outage opened"),
        ("ru", f"маршрут до {far_ip} при начале сбоя обрывался на узле 1 ({r1_near}, AS64512 Test ISP)"),
    ]:
        assert main(["report", "-c", str(config), "--provider", "svc", "--lang", lang]) == 0
        assert sentence in capsys.readouterr().out
    assert main(["report", "-c", str(config), "--provider", "svc", "--json"]) == 0
    outage = json.loads(capsys.readouterr().out)["outages"][0]
    assert outage["path_at_open"] == {
        "address": far_ip,
        "ended_at": r1_near,
        "ended_asn": "AS64512 Test ISP",
        "ended_ttl": 1,
        "hops": 4,
        "reached": False,
    }
    # the evidence pack carries both traceroute events, chained, as events.csv rows that verify
    pack = tmp_path / "svc.zip"
    assert main(["evidence", "-c", str(config), "--provider", "svc", "-o", str(pack)]) == 0
    capsys.readouterr()
    with zipfile.ZipFile(pack) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("events.csv").decode())))
    carried = [json.loads(r["data"]) for r in rows if r["type"] == "traceroute"]
    assert [(c["trigger"], c["ended_at"], c.get("ended_asn")) for c in carried] == [
        ("outage_opened", r1_near, "AS64512 Test ISP"),
        ("outage_closed", far_ip, None),
    ]
    assert verify_pack(pack).ok


def test_target_host() -> None:
    def t(address: str) -> Target:
        return Target("p/x", "x", "tcp", address, Role.PROVIDER, "p", 1.0, 0.5)

    assert target_host(t("10.0.0.1:443")) == "10.0.0.1"
    assert target_host(t("[2001:db8::1]:443")) == "2001:db8::1"
    assert target_host(t("https://example.test:8443/x")) == "example.test"
    assert target_host(t("2001:db8::1")) == "2001:db8::1"
    assert target_host(t("host.test")) == "host.test"
