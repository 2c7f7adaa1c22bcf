"""The first hour of a newcomer (issue 15 item 1), scripted: a fresh copy, ``./run.sh --for 30s`` with no config.

::

    client ──────────── gw   10.213.1.2: the router (ping), the ISP's resolver (DNS) and NTP
     ./run.sh           lo   10.213.200.1, .2: anchors (TCP 53); .3: an anchor that refuses;
     resolv.conf → gw        10.213.200.4: the broker (TCP 443)

The client namespace's default route points at the gateway, so the built-in default finds it in
/proc/net/route; ``ip netns exec`` shows the client /etc/netns/<ns>/resolv.conf as /etc/resolv.conf;
``WATCHDOG_ANCHORS`` and ``WATCHDOG_NTP`` name addresses the gateway namespace holds. Then ``watchdog
init`` (a broker from flags), ``watchdog config check``, ``watchdog check`` and ``watchdog report``. Every
line each command prints is asserted (times and latencies masked), and no "Traceback" appears anywhere.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults import ROOT, Topology, ip, netns_unavailable

from watchdog.config.builtin import agent_name
from watchdog.timefmt import duration_text

pytestmark = [pytest.mark.netns, pytest.mark.slow]

ANCHORS = ["10.213.200.1:53", "10.213.200.2:53", "10.213.200.3:53"]
BROKER = "10.213.200.4:443"
SHARED_VENV = (ROOT / ".venv").resolve()


@pytest.fixture
def net() -> Iterator[tuple[Topology, str, Path]]:
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    topo = Topology()
    etc = None
    try:
        _client, gw = topo.link("client", "gw")  # client .1, gateway .2
        topo.route("client", "default", "via", gw)
        for address in ("10.213.200.1", "10.213.200.2", "10.213.200.3", "10.213.200.4"):
            ip("-n", topo.ns("gw"), "addr", "add", f"{address}/32", "dev", "lo")
        etc = Path("/etc/netns") / topo.ns("client")
        etc.mkdir(parents=True)
        (etc / "resolv.conf").write_text(f"nameserver {gw}\n")
        helper = topo.spawn(
            "gw",
            sys.executable,
            str(Path(__file__).with_name("firsthour_gateway.py")),
            gw,
            *ANCHORS[:2],
            BROKER,
            stdout=subprocess.PIPE,
        )
        assert helper.stdout is not None
        assert helper.stdout.readline() == b"ready\n"
        yield topo, gw, etc
    finally:
        topo.close()
        if etc is not None:
            shutil.rmtree(etc, ignore_errors=True)


def fresh_copy(dest: Path) -> Path:
    """The tree as git sees it (tracked and new files, nothing ignored), with the venv already bootstrapped."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        src = ROOT / name
        if name == ".venv" or not src.is_file():
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / name)
    # "bootstrap is already done": a .venv whose python is the shared one, stamped as installed
    (dest / ".venv" / "bin").mkdir(parents=True)
    (dest / ".venv" / "bin" / "python").symlink_to(SHARED_VENV / "bin" / "python")
    script = dest / ".venv" / "bin" / "watchdog"
    script.write_text(f"#!{SHARED_VENV}/bin/python\nimport sys\nfrom watchdog.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)
    os.utime(dest / "pyproject.toml", (0, 0))
    (dest / ".venv" / ".installed").touch()
    return dest


def mask(text: str) -> list[str]:
    """Lines with clock times, dates and latencies replaced by placeholders."""
    text = re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d)?(\.\d+)?", "<TS>", text)
    text = re.sub(r"\b\d\d:\d\d:\d\d\b", "<T>", text)
    text = re.sub(r"\b\d+\.\d ms\b *", "<MS> ", text)  # the padding too: 1.2 ms and 12.3 ms pad differently
    return text.splitlines()


# every spelling of timefmt.duration_text: "5d 09h 21m", "1h 02m", "1m 05s", "12s", "3.4s"
DUR = r"\d+d \d\dh \d\dm|\d+h \d\dm|\d+m \d\ds|\d+(?:\.\d)?s"


def report_mask(lines: list[str]) -> list[str]:
    """Also mask what depends on the day of the month and the run: durations, clock figures, ids and hashes.

    The durations masked are those that depend on the hour and on how fast this machine runs the commands:
    the period, the stretches without data (the last one lasts from the agent's stop to the report, ten
    seconds or more on a loaded machine) and the counted time (the agent's own start-up is counted too).
    """
    out = []
    for line in lines:
        line = re.sub(r"\b\d+d \d+h \d+m\b", "<DUR>", line)
        line = re.sub(rf"  (?:{DUR})  agent not running$", "  <DUR>  agent not running", line)
        if line.startswith("Counted time    service "):
            line = re.sub(rf"(service|no data|=) (?:<DUR>|{DUR})", r"\1 <DUR>", line)
        line = re.sub(r"[-+]?0\.\d{6} s\b", "<SEC> s", line)
        line = re.sub(r"rows up to \d+", "rows up to <N>", line)
        line = re.sub(r"^Coverage        [\d.]+ %", "Coverage        <PCT> %", line)
        line = re.sub(r"\b[0-9a-f]{32,64}\b", "<HEX>", line)
        out.append(line)
    return out


def logs(lines: list[str]) -> list[str]:
    """Log lines without their time stamps, run ids and measured offsets, sorted (tasks log concurrently)."""
    cleaned = []
    for line in lines:
        line = re.sub(r"^<TS>,\d+ ", "", line)
        line = re.sub(r"run=[0-9a-f]{32}", "run=<RUN>", line)
        line = re.sub(r"offset_s=-?[0-9.e-]+", "offset_s=<OFFSET>", line)
        cleaned.append(line)
    return sorted(cleaned)


def test_first_hour(net: tuple[Topology, str, Path], tmp_path: Path) -> None:
    topo, gw, _etc = net
    home = fresh_copy(tmp_path / "outage-watchdog")
    env = {
        "PATH": f"{home / '.venv' / 'bin'}:{os.environ['PATH']}",
        "PYTHONPATH": str(home),
        "HOME": str(tmp_path),
        "TZ": "Europe/Moscow",
        "WATCHDOG_ANCHORS": ",".join(ANCHORS),
        "WATCHDOG_NTP": gw,
    }

    def run(*argv: str, timeout: float = 30) -> tuple[int, list[str], list[str]]:
        done = subprocess.run(
            ["ip", "netns", "exec", topo.ns("client"), *argv],
            cwd=home,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
        return done.returncode, mask(done.stdout), mask(done.stderr)

    agent = agent_name(socket.gethostname())
    assert gw == "10.213.1.2"

    # 1. ./run.sh with no config: the built-in default watches the line
    code, out, err = run("./run.sh", "--for", "30s", timeout=60)
    assert code == 0, err
    assert out == [
        "No watchdog.yaml here: watching your own internet line with the built-in default.",
        f"  your router (default gateway): {gw}, by ping",
        "  internet anchors (from WATCHDOG_ANCHORS): 10.213.200.1:53, 10.213.200.2:53, 10.213.200.3:53;"
        " your line works while 2 answer",
        f"  your ISP: name lookups through {gw} (from /etc/resolv.conf)",
        "  journal: data/journal.sqlite3; stop with Ctrl-C",
        "<T> first round: 4 of 5 up",
        f"  lan/gateway       icmp  {gw}       up",
        "  internet/anchor1  tcp   10.213.200.1:53  up",
        "  internet/anchor2  tcp   10.213.200.2:53  up",
        "  internet/anchor3  tcp   10.213.200.3:53  DOWN connect: connect 10.213.200.3:53: Connection refused",
        f"  isp/dns1          dns   {gw}       up",
        "  your line: working (router answers, 2 of 3 anchors up, quorum 2)",
        "To watch a broker or a bank as well, write a watchdog.yaml that adds it to your line:",
        '  watchdog init --provider-kind broker --name "My broker" --target HOST:PORT  (or https://URL)',
        "  or run `watchdog init` in a terminal to be asked; then start ./run.sh again.",
    ]
    assert logs(err) == [
        "INFO probes.icmp: icmp shared socket opened family=ipv4 mode=raw kernel_timestamps=True",
        "INFO probes.icmp: icmp sockets=raw shared=1 targets=1",
        "INFO watchdog.agent.clock: clock checked against NTP servers=1 offset_s=<OFFSET>",
        "INFO watchdog.agent.core: agent started run=<RUN> targets=5 journal=data/journal.sqlite3",
        "INFO watchdog.agent.core: agent stopping run=<RUN> reason=duration elapsed",
        "INFO watchdog.web.sink: status page listening url=http://127.0.0.1:8080/",
        "INFO watchdog.web.sink: status page stopped",
    ]

    # 2. watchdog init: the same line plus a broker, from flags (stdin is not a terminal)
    init = ("watchdog", "init", "--provider-kind", "broker", "--name", "Test Broker", "--target", BROKER)
    assert run(*init) == (
        0,
        [
            f"wrote watchdog.yaml (mode 600): your line (router {gw}, 3 anchors, ISP) and broker"
            ' "Test Broker" with 1 target',
            "next: watchdog config check, then watchdog check; ./run.sh runs it from now on",
        ],
        [],
    )
    assert (home / "watchdog.yaml").stat().st_mode & 0o777 == 0o600
    assert run(*init) == (2, [], ["watchdog.yaml exists: keep it, or run watchdog init --force to replace it"])

    # 3. watchdog config check, then watchdog check (one probe each; anchor3 still refuses: exit 1)
    assert run("watchdog", "config", "check") == (
        0,
        [
            "watchdog.yaml: OK",
            f"  agent {agent}, zone Europe/Moscow, journal data/journal.sqlite3",
            "  controls: 1 LAN, 3 internet (quorum 2)",
            "  provider isp (kind isp): 1 target",
            "  provider broker (kind broker): 1 target",
            f"    lan/gateway                  icmp  every 30s   timeout 5s     {gw}",
            "    internet/anchor1             tcp   every 30s   timeout 5s     10.213.200.1:53",
            "    internet/anchor2             tcp   every 30s   timeout 5s     10.213.200.2:53",
            "    internet/anchor3             tcp   every 30s   timeout 5s     10.213.200.3:53",
            f"    isp/dns1                     dns   every 30s   timeout 5s     {gw}",
            "    broker/tcp-443               tcp   every 30s   timeout 5s     10.213.200.4:443",
        ],
        [],
    )
    code, out, err = run("watchdog", "check")
    assert (code, err) == (1, [])
    assert [re.sub(r"rtt min/avg/max [0-9./]+ ms", "rtt min/avg/max <RTT> ms", line) for line in out] == [
        "target            kind  state  latency  failure  detail",
        "----------------  ----  -----  -------  ------- "
        " ------------------------------------------------------------------------------",
        f"lan/gateway       icmp  up     <MS> 3 of 3 ICMP echo replies from {gw}, rtt min/avg/max <RTT> ms",
        "internet/anchor1  tcp   up     <MS> connected to 10.213.200.1:53",
        "internet/anchor2  tcp   up     <MS> connected to 10.213.200.2:53",
        "internet/anchor3  tcp   DOWN   <MS> connect  connect 10.213.200.3:53: Connection refused",
        f"isp/dns1          dns   up     <MS> DNS NOERROR for example.com A from {gw}:53: {gw}",
        "broker/tcp-443    tcp   up     <MS> connected to 10.213.200.4:443",
        "",
        "5/6 up",
    ]

    # 4. watchdog report for the ISP: the 30 s the built-in default journalled, under the new config
    code, out, err = run("watchdog", "report", "--provider", "isp")
    assert (code, err) == (0, [])
    assert report_mask(out) == [
        "SLA report: ISP (isp)",
        "Period 2026-12: <TS> MSK (UTC+03:00) – <TS> MSK (UTC+03:00)",
        "       (<TS> UTC – <TS> UTC; zone Europe/Moscow)",
        "The period is still running: figures as of <TS> MSK (UTC+03:00) (<TS> UTC).",
        "",
        "Availability    100.0000 % of counted time",
        "Downtime        0s attributed to the provider",
        "Incidents       0 with provider downtime (0 in all); longest 0s; MTTR —",
        "Coverage        <PCT> % of the period had data",
        "Counted time    service <DUR> − maintenance 0s − no data <DUR> = <DUR>",
        "Shown apart     inconclusive 0s, customer's own line 0s (counted neither way)",
        "",
        "No incidents in this period.",
        "",
        "Without data (never counted as up or as down)",
        "  <TS> MSK (UTC+03:00) – <TS> MSK (UTC+03:00)  <DUR>  agent not running",
        "  <TS> MSK (UTC+03:00) – <TS> MSK (UTC+03:00)  <DUR>  agent not running",
        "",
        "Clock",
        f"  1 measurement(s) against {gw}.",
        f"  Worst offset <SEC> s at <TS> MSK (UTC+03:00) ({gw}, error bound <SEC> s); largest error"
        " bound <SEC> s; median offset <SEC> s.",
        "  Every moment the agent ran was within 2h 00m of a successful measurement.",
        "",
        "How these figures were computed (anyone can recompute them from the journal)",
        "",
        "Time-based, not count-based: every figure is a length of time, never a share of probes. The period",
        "2026-12 runs from <TS> MSK (UTC+03:00) to <TS> MSK (UTC+03:00), cut in",
        "the provider's zone Europe/Moscow with the tz database (so daylight-saving changes and historic",
        "offsets are exact); it lasts <DUR>.",
        "",
        "Service hours: round the clock. Counted time = service time − announced maintenance that the",
        "contract excludes (0 window(s) in this period) − time without data (the agent was not running or was",
        "stalled; such time is never counted as up or as down).",
        "",
        "Downtime = the stretches of the provider's outages attributed to the provider that fall inside",
        "counted time; outages that cross the start or end of the period are cut there. Availability = 1 −",
        "downtime ÷ counted time.",
        "",
        "An outage of a target opens after the given number of consecutive failed probes and closes after the",
        "given number of consecutive successes. Its start is the first failed probe (the true start lies",
        "between the last success and that probe) and its end is the first successful probe of the recovery",
        '(between the last failure and that probe). Probes whose failure is "internal" (the agent itself',
        "could not probe) say nothing about the target and are ignored.",
        "",
        f"  - isp/dns1 (provider): dns {gw}, every 30s, timeout 5s, opens after 3 failures, closes after 2 successes",
        "  - internet/anchor1 (internet): tcp 10.213.200.1:53, every 30s, timeout 5s, opens after 3"
        " failures, closes after 2 successes",
        "  - internet/anchor2 (internet): tcp 10.213.200.2:53, every 30s, timeout 5s, opens after 3"
        " failures, closes after 2 successes",
        "  - internet/anchor3 (internet): tcp 10.213.200.3:53, every 30s, timeout 5s, opens after 3"
        " failures, closes after 2 successes",
        f"  - lan/gateway (lan): icmp {gw}, every 30s, timeout 5s, opens after 3 failures, closes after 2 successes",
        "",
        "Whose fault: each stretch of an outage is judged by the customer's own-line controls (1 LAN, 3",
        'internet; quorum 2). "provider" = the customer\'s line was verified working: no LAN control down and',
        "at least 2 internet controls up (for an ISP: every LAN control up; lost internet with the LAN up is",
        'the ISP\'s own outage). "customer_line" = a LAN control down, or so many internet controls down that',
        'the quorum could not be met. "inconclusive" = the controls disagree or too few of them decided.',
        '"no_data" = the agent was not running. Inconclusive and customer-line time are shown apart and',
        "counted neither way.",
        "",
        "An incident is a connected stretch in which any of the provider's targets was down. Its duration",
        "runs from its start to its end on the wall clock. MTTR is the mean duration of the incidents that",
        'had provider downtime (open ones excluded); "longest" is the largest counted downtime of one',
        "incident.",
        "",
        f"Clock: the agent measures its clock against {gw} at start and regularly; each measurement's",
        "error bound is |offset| + delay/2 + root delay/2 + root dispersion, and a measurement vouches for",
        "the clock 2h 00m either side (up to any wall-clock step). Wall-clock steps are noticed against the",
        "monotonic clock and recorded.",
        "",
        "Journal <HEX>, head block 1 (rows up to <N>) <HEX>",
    ]
    # the counted time is exactly the run the journal holds: from its agent_start to its agent_stop
    with sqlite3.connect(home / "data" / "journal.sqlite3") as db:
        ((start_ns,),) = db.execute("SELECT ts_ns FROM events WHERE type = 'agent_start'").fetchall()
        ((stop_ns,),) = db.execute("SELECT ts_ns FROM events WHERE type = 'agent_stop'").fetchall()
    assert 30 <= (stop_ns - start_ns) / 1e9 < 40
    counted = next(line for line in out if line.startswith("Counted time"))
    assert counted.endswith(f" = {duration_text((stop_ns - start_ns) / 1e9)}"), counted
