"""Attribution on a real topology: the agent in a "client" namespace behind a gateway, an ISP, three anchors, a service.

::

    client ── gw ── isp ─┬─ ctrla   (internet controls: ICMP to each anchor; quorum 2)
     agent    LAN        ├─ ctrlb
              control    ├─ ctrlc
                         └─ svc     (the broker's service: a TCP listener)

Every address is a /30 on a veth pair the test creates (10.213.0.0/16, nowhere else). The agent is
the real ``watchdog run`` started with ``ip netns exec client``. Four faults, one after another, each
held until the agent has opened its outages and then repaired until every outage has closed. A link
fault takes the *far* end down, so the near side loses its carrier as when a router or cable dies
(repairs re-install the static routes the kernel flushed with the interface):

1. the gateway's LAN port down           → everything down: the customer's line, for every provider
2. the ISP's end of the uplink down      → the LAN answers, nothing beyond: the customer's line for the
                                            broker, the ISP's fault for the ISP
3. the service's port closed             → only the broker fails: the provider's fault
4. two of three anchors down, service too → internet quorum lost while the LAN answers: the customer's
                                            line for the broker, the ISP's fault for the ISP

The verdicts are read back with :func:`watchdog.analysis.outages.analyse`, as ``watchdog outages`` does.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults import AgentProcess, Topology, first_result_after, netns_unavailable, wait_until

from watchdog.analysis.outages import analyse
from watchdog.errors import JournalError
from watchdog.journal.store import Journal
from watchdog.model import NS, AttributedOutage, Attribution, ProviderKind

pytestmark = [pytest.mark.netns, pytest.mark.slow]

SERVICE_PORT = 8443
LISTENER = (
    "import socket,sys\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    f"s.bind(('0.0.0.0', {SERVICE_PORT})); s.listen(64); print('ready', flush=True)\n"
    "while True:\n"
    "    c, _ = s.accept(); c.close()\n"
)
CUSTOMER, PROVIDER = Attribution.CUSTOMER_LINE, Attribution.PROVIDER


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


class Net:
    """The topology of the module docstring, with the addresses the agent's config needs."""

    def __init__(self, t: Topology) -> None:
        self.t = t
        client_ip, self.gw_lan = t.link("client", "gw")
        gw_wan, self.isp_hop = t.link("gw", "isp")
        self.routes: list[tuple[str, ...]] = [
            ("client", "default", "via", self.gw_lan),
            ("gw", "default", "via", self.isp_hop),
            ("isp", f"{client_ip.rsplit('.', 1)[0]}.0/30", "via", gw_wan),
        ]
        self.anchors = []
        for role in ("ctrla", "ctrlb", "ctrlc", "svc"):
            isp_side, far = t.link("isp", role)
            self.routes.append((role, "default", "via", isp_side))
            self.anchors.append(far)
        self.svc = self.anchors.pop()
        self.apply_routes()
        t.forward("gw")
        t.forward("isp")
        self.listener: subprocess.Popen[bytes] | None = None

    def apply_routes(self) -> None:
        """(Re)install the static routes: the kernel drops a route whose interface went down."""
        for role, *spec in self.routes:
            self.t.route(role, *spec)

    def cut(self, role: str, peer: str) -> None:
        """``role``'s end of the link goes down: ``peer`` sees its carrier drop, as with a dead router."""
        self.t.down(role, peer)

    def mend(self, role: str, peer: str) -> None:
        self.t.up(role, peer)
        self.apply_routes()

    def service_up(self) -> None:
        self.listener = self.t.spawn("svc", sys.executable, "-c", LISTENER, stdout=subprocess.PIPE)
        assert self.listener.stdout is not None and self.listener.stdout.readline().strip() == b"ready"

    def service_down(self) -> None:
        assert self.listener is not None
        self.listener.kill()
        self.listener.wait(10)
        if self.listener.stdout is not None:
            self.listener.stdout.close()


def _config(path: Path, data_dir: Path, net: Net) -> None:
    anchors = "\n".join(
        f"    - {{name: {name}, kind: icmp, address: {ip}, icmp: {{count: 1}}}}"
        for name, ip in zip(("a", "b", "c"), net.anchors, strict=True)
    )
    path.write_text(
        f"""
agent: {{id: netns, timezone: UTC, data_dir: "{data_dir}"}}
ntp: {{enabled: false}}  # the default servers are public: never asked from a test
defaults: {{interval: 1s, timeout: 500ms, failure_threshold: 2, success_threshold: 2}}
controls:
  lan: [{{name: router, kind: icmp, address: {net.gw_lan}, icmp: {{count: 1}}}}]
  internet:
{anchors}
  quorum: 2
providers:
  - id: isp
    kind: isp
    targets: [{{name: hop, kind: icmp, address: {net.isp_hop}, icmp: {{count: 1}}}}]
  - id: broker
    kind: broker
    targets: [{{name: trading, kind: tcp, address: "{net.svc}:{SERVICE_PORT}"}}]
"""
    )


def _outages(journal: Path) -> list[tuple[str, int, int | None]]:
    try:
        with Journal.open(journal, create=False, readonly=True) as j:
            return [(o.target, o.start_ns, o.end_ns) for o in j.outages()]
    except JournalError:  # not created yet, or its schema not yet committed: the agent is starting
        return []


def _episode(journal: Path, expect_open: set[str], fault, repair) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Inject a fault, wait for these targets' outages to open, repair, wait until nothing is open."""
    before = len(_outages(journal))
    started = time.time_ns()
    fault()
    wait_until(
        lambda: expect_open <= {k for k, s, e in _outages(journal)[before:] if e is None},
        20,
        f"outages of {sorted(expect_open)} to open",
    )
    time.sleep(2.0)  # held long enough that the decided stretch outweighs the edges
    repair()
    repaired = time.time_ns()
    wait_until(lambda: all(e is not None for _, _, e in _outages(journal)), 20, "every outage to close")
    return started, repaired


def test_attribution_on_a_namespace_topology(tmp_path: Path, topo: Topology) -> None:
    net = Net(topo)
    net.service_up()
    config = tmp_path / "watchdog.yaml"
    journal = tmp_path / "data" / "journal.sqlite3"
    _config(config, tmp_path / "data", net)
    agent = AgentProcess(config, tmp_path / "agent.log", prefix=("ip", "netns", "exec", topo.ns("client")))
    episodes: list[tuple[str, int, int]] = []
    try:
        agent.start()
        wait_until(lambda: first_result_after(journal, agent.started_ns), 15, "the agent's first probe")
        time.sleep(3.0)  # every target and control has been seen up
        everything = {"broker/trading", "isp/hop", "lan/router", "internet/a", "internet/b", "internet/c"}
        beyond_lan = everything - {"lan/router"}
        episodes.append(
            (
                "lan down",
                *_episode(journal, everything, lambda: net.cut("gw", "client"), lambda: net.mend("gw", "client")),
            )
        )
        episodes.append(
            (
                "isp link down",
                *_episode(journal, beyond_lan, lambda: net.cut("isp", "gw"), lambda: net.mend("isp", "gw")),
            )
        )
        episodes.append(
            ("service port closed", *_episode(journal, {"broker/trading"}, net.service_down, net.service_up))
        )

        def two_anchors_and_service_down() -> None:
            net.cut("isp", "ctrla")
            net.cut("isp", "ctrlb")
            net.service_down()

        def repair_all() -> None:
            net.mend("isp", "ctrla")
            net.mend("isp", "ctrlb")
            net.service_up()

        episodes.append(
            (
                "2 of 3 anchors down",
                *_episode(
                    journal, {"broker/trading", "internet/a", "internet/b"}, two_anchors_and_service_down, repair_all
                ),
            )
        )
        assert agent.stop() == 0
    finally:
        agent.close()
    log = agent.text()
    assert "Traceback" not in log, log[-3000:]

    with Journal.open(journal, create=False, readonly=True) as j:
        analysis = analyse(j, provider_kinds={"isp": ProviderKind.ISP, "broker": ProviderKind.BROKER}, quorum=2)

    def verdicts(provider: str, start: int, end: int) -> dict[str, Attribution]:
        found: dict[str, Attribution] = {}
        for a in analysis.for_provider(provider):
            if start - NS <= a.outage.start_ns <= end:
                assert a.outage.target not in found, f"two outages of {a.outage.target} in one episode: {_show(a)}"
                found[a.outage.target] = a.attribution
        return found

    expected = {
        "lan down": ({"broker/trading": CUSTOMER}, {"isp/hop": CUSTOMER, "line/internet": CUSTOMER}),
        "isp link down": ({"broker/trading": CUSTOMER}, {"isp/hop": PROVIDER, "line/internet": PROVIDER}),
        "service port closed": ({"broker/trading": PROVIDER}, {}),
        "2 of 3 anchors down": ({"broker/trading": CUSTOMER}, {"line/internet": PROVIDER}),
    }
    for name, start, end in episodes:
        broker, isp = expected[name]
        got = (verdicts("broker", start, end), verdicts("isp", start, end))
        assert got == (broker, isp), (
            name,
            got,
            [_show(a) for a in analysis.outages if start - NS <= a.outage.start_ns <= end],
        )


def _show(a: AttributedOutage) -> str:
    return f"{a.outage.target}: " + ", ".join(
        f"{s.attribution.value} {s.duration_ns / NS:.1f}s ({s.reason})" for s in a.segments
    )
