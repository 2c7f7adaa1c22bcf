"""Packet loss in a network namespace: the ISP's gateway loses exactly 20 % of echoes for a known window.

The agent (the real ``watchdog run`` inside a "client" namespace) probes the ISP's gateway in a "gw"
namespace with 5 ICMP echoes a second; a userspace responder there (this kernel has no netem) drops
every 5th request between two moments the test records. TCP controls in the same namespace stay clean.
Known truth → the journaled degraded window's bounds contain both moments, and it is the ISP's fault.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults import AgentProcess, Topology, first_result_after, netns_unavailable, wait_until

from watchdog.analysis.outages import analyse
from watchdog.config import loads
from watchdog.journal.store import Journal
from watchdog.model import NS, Attribution, ProviderKind

pytestmark = [pytest.mark.netns, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
SLACK_NS = 200_000_000
LISTENER = (
    "import socket,sys\n"
    "ss=[]\n"
    "for p in (7001, 7002, 7003, 7004):\n"
    "    s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "    s.bind(('0.0.0.0', p)); s.listen(64); s.setblocking(False); ss.append(s)\n"
    "print('ready', flush=True)\n"
    "import select\n"
    "while True:\n"
    "    r,_,_=select.select(ss,[],[])\n"
    "    for s in r:\n"
    "        c,_=s.accept(); c.close()\n"
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


def test_twenty_percent_loss_is_a_degraded_window_with_bounds(topo: Topology, tmp_path: Path) -> None:
    _client_ip, gw_ip = topo.link("client", "gw")
    topo.exec("gw", "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1")
    control = tmp_path / "drop_every"
    control.write_text("0")
    echo = topo.spawn("gw", sys.executable, str(HERE / "lossy_echo.py"), str(control), stdout=-1)
    listener = topo.spawn("gw", sys.executable, "-c", LISTENER, stdout=-1)
    for proc in (echo, listener):
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    config_path = tmp_path / "watchdog.yaml"
    config_path.write_text(
        f"""
agent: {{id: loss, timezone: UTC, data_dir: "{tmp_path / "data"}"}}
defaults: {{interval: 1s, timeout: 900ms}}
controls:
  lan: [{{name: router, kind: tcp, address: "{gw_ip}:7001"}}]
  internet:
    - {{name: a, kind: tcp, address: "{gw_ip}:7002"}}
    - {{name: b, kind: tcp, address: "{gw_ip}:7003"}}
    - {{name: c, kind: tcp, address: "{gw_ip}:7004"}}
  quorum: 2
providers:
  - id: isp
    kind: isp
    targets:
      - name: gateway
        kind: icmp
        address: {gw_ip}
        icmp: {{count: 5, packet_interval: 20ms}}
        quality: {{loss_max: 5%, window: 10, open: 3 of 5, close: 3}}
ntp: {{enabled: false}}
web: {{enabled: false}}
"""
    )
    journal = tmp_path / "data" / "journal.sqlite3"
    agent = AgentProcess(config_path, tmp_path / "agent.log", prefix=("ip", "netns", "exec", topo.ns("client")))
    try:
        agent.start()
        wait_until(lambda: first_result_after(journal, agent.started_ns), 20, "the agent's first probe")
        time.sleep(3.0)
        lossy_at = time.time_ns()
        control.write_text("5")
        time.sleep(8.0)
        clean_at = time.time_ns()
        control.write_text("0")
        time.sleep(14.0)  # the 10-round window drains, then 3 good rounds close it
        assert agent.stop() == 0, agent.text()
    finally:
        agent.close()

    config = loads(config_path.read_text(), env={})
    with Journal.open(journal, create=False, readonly=True) as j:
        analysis = analyse(j, provider_kinds={"isp": ProviderKind.ISP}, quorum=config.quorum)
    assert analysis.for_provider("isp") == []  # 20 % loss is not down
    (window,) = [a for a in analysis.degraded_for_provider("isp") if a.outage.limit == "loss"]
    w = window.outage
    assert w.detail.startswith("loss ") and w.detail.endswith("> 5.0%"), w.detail
    # a round's stamp is its start and its 5 echoes take ~100 ms: a switch inside a round may count for it
    assert w.start_bounds[0] is not None and w.start_bounds[0] < lossy_at <= w.start_bounds[1] + SLACK_NS, w
    assert w.end_bounds is not None and w.end_bounds[0] < clean_at <= w.end_bounds[1] + SLACK_NS, (w, clean_at)
    assert w.start_bounds[1] - w.start_bounds[0] <= 1.2 * NS and w.end_bounds[1] - w.end_bounds[0] <= 1.2 * NS
    assert window.attribution is Attribution.PROVIDER
    assert [s.reason for s in window.segments] == ["LAN 1/1 clean, internet 3/3 clean (quorum 2)"]
