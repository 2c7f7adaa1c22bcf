"""B5 — Footprint: 50 targets at 10 s, the real ``watchdog run`` process, its CPU, RSS and journal growth.

The agent runs as a user starts it (``python -m watchdog run -c FILE``) against loopback services in
another process: 20 TCP, 15 HTTP, 10 ICMP and 5 DNS targets. Its CPU and memory are read from
/proc/<pid> every second. Mean CPU is taken from the end of start-up (the first round of probes is
staggered over 5 s; 15 s are left out) to the end; RSS is the kernel's peak (VmHWM). Journal bytes per
result are counted after the agent stopped (its last connection checkpoints the WAL into the file).
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, Suite, loopback_hosts, proc_cpu, proc_rss_kb, python_env, servers
from bench.reports import results_data_bytes

STARTUP_S = 15.0


def _config(data_dir: Path, listening: dict[str, list[str]]) -> str:
    lines = [
        f'agent: {{id: bench-footprint, timezone: UTC, data_dir: "{data_dir}"}}',
        "defaults: {interval: 10s, timeout: 5s}",
        "providers:",
        "  - id: home",
        "    targets:",
    ]
    for i in range(20):
        lines.append(f'      - {{name: tcp{i}, kind: tcp, address: "{listening["tcp"][i % len(listening["tcp"])]}"}}')
    for i in range(15):
        lines.append(
            f'      - {{name: http{i}, kind: http, address: "{listening["http"][i % len(listening["http"])]}"}}'
        )
    for i, host in enumerate(loopback_hosts(10, 8)):
        lines.append(f"      - {{name: icmp{i}, kind: icmp, address: {host}}}")
    for i in range(5):
        address = listening["dns"][i % len(listening["dns"])]
        lines.append(f'      - {{name: dns{i}, kind: dns, address: "{address}", dns: {{query_name: example.test}}}}')
    return "\n".join(lines) + "\n"


def run(suite: Suite, *, full: bool) -> None:
    """Measure B5."""
    duration_s = 600.0 if full else 90.0
    hosts = [f"127.0.8.{i}" for i in range(101, 111)]
    with (
        servers({"tcp": hosts, "http": hosts, "dns": hosts}) as listening,
        tempfile.TemporaryDirectory(prefix="wd-footprint-") as tmp,
    ):
        config = Path(tmp) / "watchdog.yaml"
        config.write_text(_config(Path(tmp) / "data", listening))
        config.chmod(0o600)
        proc = subprocess.Popen(
            [sys.executable, "-m", "watchdog", "run", "-c", str(config), "--log-level", "WARNING"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=python_env(),
            cwd=ROOT,
            text=True,
        )
        try:
            time.sleep(STARTUP_S)
            cpu0 = proc_cpu(proc.pid)
            rss_samples = []
            deadline = time.monotonic() + duration_s
            while time.monotonic() < deadline:
                time.sleep(1.0)
                rss_samples.append(proc_rss_kb(proc.pid)[0])
            cpu1 = proc_cpu(proc.pid)
            hwm = proc_rss_kb(proc.pid)[1]
            whole = cpu1.total_s
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"watchdog run exited {proc.returncode}: {err[-2000:]}")
        journal = Path(tmp) / "data" / "journal.sqlite3"
        conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
        results = conn.execute("SELECT count(*) FROM results").fetchone()[0]
        failed = conn.execute("SELECT count(*) FROM results WHERE failure IS NOT NULL").fetchone()[0]
        conn.close()
        results_bytes = results_data_bytes(journal)
        size = journal.stat().st_size
    suite.note(
        f"{duration_s:.0f} s measured after {STARTUP_S:.0f} s of start-up; {results} results journaled, {failed} failed"
    )
    mean_cpu = 100 * (cpu1.total_s - cpu0.total_s) / (cpu1.at - cpu0.at)
    suite.add(
        "mean CPU after start-up",
        mean_cpu,
        "% of a core",
        "≤ 2 %",
        mean_cpu <= 2.0,
        note=f"{whole:.1f} s CPU in all, start-up included",
    )
    suite.add(
        "peak RSS (VmHWM)",
        hwm / 1024,
        "MB",
        "≤ 80 MB",
        hwm / 1024 <= 80,
        note=f"RSS at the end {rss_samples[-1] / 1024:.1f} MB",
    )
    suite.add(
        "RSS growth over the window",
        (rss_samples[-1] - rss_samples[0]) / 1024,
        "MB",
        note=f"first sample {rss_samples[0] / 1024:.1f} MB",
    )
    suite.add(
        "journal bytes per result (this run: small file, fixed overhead included)",
        size / max(1, results),
        "B",
        note=f"results data alone {results_bytes / max(1, results):.0f} B/result (B6: the figure at scale)",
    )
