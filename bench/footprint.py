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
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT, CpuSample, Suite, free_port, loopback_hosts, proc_cpu, proc_rss_kb, python_env, servers
from bench.reports import results_data_bytes

STARTUP_S = 15.0


# every limit set (and none crossed on loopback): the degraded-state tracking judges every round (B5q)
QUALITY = "quality: {latency_max: 500ms, loss_max: 5%, jitter_max: 100ms}"


def _config(data_dir: Path, listening: dict[str, list[str]], quality: bool = False) -> str:
    lines = [
        f'agent: {{id: bench-footprint, timezone: UTC, data_dir: "{data_dir}"}}',
        "ntp: {enabled: false}",  # the network rule: loopback only (the default NTP servers are public)
        f'web: {{listen: "127.0.0.1:{free_port()}"}}',  # not the default 8080, which another agent may hold
        f"defaults: {{interval: 10s, timeout: 5s{', ' + QUALITY if quality else ''}}}",
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


@dataclass(frozen=True)
class Footprint:
    """One measured run of the agent."""

    duration_s: float
    cpu0: CpuSample
    cpu1: CpuSample
    whole_cpu_s: float
    hwm_kb: int
    rss_samples: list[int]
    results: int
    failed: int
    window_results: int  # results journaled between the two CPU samples
    results_bytes: int
    size: int

    @property
    def mean_cpu(self) -> float:
        """% of a core between the samples."""
        return 100 * (self.cpu1.total_s - self.cpu0.total_s) / (self.cpu1.at - self.cpu0.at)

    @property
    def cpu_per_result_us(self) -> float:
        """CPU per probe between the samples (the agent's whole process: probing, tracking, journaling)."""
        return 1e6 * (self.cpu1.total_s - self.cpu0.total_s) / max(1, self.window_results)


def run(suite: Suite, *, full: bool) -> None:
    """Measure B5."""
    f = measure(600.0 if full else 90.0)
    _report(suite, f)


def measure(duration_s: float, *, quality: bool = False) -> Footprint:
    """Start ``watchdog run`` on 50 loopback targets, measure ``duration_s`` after start-up, stop it."""
    hosts = [f"127.0.8.{i}" for i in range(101, 111)]
    with (
        servers({"tcp": hosts, "http": hosts, "dns": hosts}) as listening,
        tempfile.TemporaryDirectory(prefix="wd-footprint-") as tmp,
    ):
        config = Path(tmp) / "watchdog.yaml"
        config.write_text(_config(Path(tmp) / "data", listening, quality))
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
            wall0 = time.time_ns()
            rss_samples = []
            deadline = time.monotonic() + duration_s
            while time.monotonic() < deadline:
                time.sleep(1.0)
                rss_samples.append(proc_rss_kb(proc.pid)[0])
            cpu1 = proc_cpu(proc.pid)
            wall1 = time.time_ns()
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
        sql = "SELECT count(*) FROM results WHERE ts_ns BETWEEN ? AND ?"
        window_results = conn.execute(sql, (wall0, wall1)).fetchone()[0]
        conn.close()
        results_bytes = results_data_bytes(journal)
        size = journal.stat().st_size
    return Footprint(
        duration_s, cpu0, cpu1, whole, hwm, rss_samples, results, failed, window_results, results_bytes, size
    )


def _report(suite: Suite, f: Footprint) -> None:
    duration_s, cpu0, cpu1, whole, hwm = f.duration_s, f.cpu0, f.cpu1, f.whole_cpu_s, f.hwm_kb
    rss_samples, results, failed, results_bytes, size = f.rss_samples, f.results, f.failed, f.results_bytes, f.size
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
