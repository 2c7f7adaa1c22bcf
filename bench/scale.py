"""Issue 19: the whole agent past its capacity — N ICMP targets at 1 s, ``/healthz`` polled all along.

``python -m bench.scale [--targets 10000] [--interval 1] [--window 30] [--warmup 10] [--start-timeout 600]``

Starts ``python -m watchdog run`` as a user does (journal, detectors, web server with ``/healthz``,
group commit, GC tuning) on N loopback ICMP targets and waits until its log says ``agent started``
(config loaded, journal open, every target scheduled: ``startup_s``, seconds from the process start,
polled every 0.1 s); then ``--warmup`` seconds more, then the window: it asks ``/healthz`` once a second
with a 2 s timeout, and after the window reads the journal: how many of the asked probes ran, and how
late; and the agent's log: how many lines, and whether it told the user (``probes start late:``, logged
once a run after a 60 s window — use ``--window 60`` or more to see it). Start-up is thus never counted
as probes skipped (at 10,000 targets loading the config alone took longer than the warm-up).
CPU is the agent process's, from /proc. Every address is in 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.common import ROOT, free_port, loopback_hosts, percentile, proc_cpu, proc_rss_kb, python_env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds after 'agent started' before the window")
    parser.add_argument("--start-timeout", type=float, default=600.0, help="give up if the agent has not started")
    parser.add_argument("--keep-log", type=Path, help="copy the agent's log here")
    args = parser.parse_args(argv)
    port = free_port()
    hosts = loopback_hosts(args.targets, second_octet=0)
    with tempfile.TemporaryDirectory(prefix="wd-scale-") as tmp:
        data = Path(tmp) / "data"
        config = Path(tmp) / "watchdog.yaml"
        lines = [
            f'agent: {{id: scale, timezone: UTC, data_dir: "{data}"}}',
            "ntp: {enabled: false}",
            f"defaults: {{interval: {args.interval * 1000:.0f}ms, "
            f"timeout: {min(0.5, args.interval / 2) * 1000:.0f}ms}}",
            f'web: {{listen: "127.0.0.1:{port}"}}',
            "providers:",
            "  - id: bench",
            "    targets:",
            *(f"      - {{name: t{i}, kind: icmp, address: {h}, icmp: {{count: 1}}}}" for i, h in enumerate(hosts)),
        ]
        config.write_text("\n".join(lines) + "\n")
        log_path = Path(tmp) / "agent.log"
        log = log_path.open("wb")
        spawned = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "watchdog", "run", "-c", str(config)],
            stdout=log,
            stderr=log,
            env=python_env(),
            cwd=ROOT,
        )
        answers: list[float] = []
        failures = 0
        try:
            startup_s = _wait_started(proc, log_path, spawned, args.start_timeout)
            time.sleep(args.warmup)
            cpu0, start_ns = proc_cpu(proc.pid), time.time_ns()
            deadline = time.monotonic() + args.window
            while time.monotonic() < deadline:
                t0 = time.monotonic()
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                        response.read()
                    answers.append(time.monotonic() - t0)
                except OSError:
                    failures += 1
                time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
            cpu1, end_ns = proc_cpu(proc.pid), time.time_ns()
            rss = proc_rss_kb(proc.pid)[1]
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
        text = log_path.read_text(errors="replace")
        if args.keep_log:
            args.keep_log.write_text(text)
        logged = text.splitlines()
        late_lines = [line for line in logged if "probes start late:" in line]
        sys.path.insert(0, str(ROOT))
        from watchdog.journal.store import Journal

        with Journal.open(data / "journal.sqlite3", create=False, readonly=True) as journal:
            results = [r for _, r in journal.iter_results(start_ns, end_ns)]
        window_s = (end_ns - start_ns) / 1e9
        asked = args.targets / args.interval * window_s
        out = {
            "targets": args.targets,
            "interval_s": args.interval,
            "startup_s": round(startup_s, 1),
            "window_s": round(window_s, 1),
            "probes_asked": round(asked),
            "probes_ran": len(results),
            "ran_pct": round(100 * len(results) / asked, 1),
            "failed": sum(1 for r in results if not r.ok),
            "cpu_pct_of_a_core": round(100 * (cpu1.total_s - cpu0.total_s) / window_s, 1),
            "healthz_answered": f"{len(answers)} of {len(answers) + failures}",
            "healthz_p50_ms": round(percentile(answers, 50) * 1e3, 1),
            "healthz_max_ms": round(max(answers, default=float("nan")) * 1e3, 1),
            "rss_hwm_mb": round(rss / 1024, 1),
            "log_lines": len(logged),
            "log_slots_missed_lines": sum(1 for line in logged if "probe slots missed" in line),
            "log_start_late": late_lines[:1],
            "log_start_late_lines": len(late_lines),
        }
    print(json.dumps(out))
    return 0


def _wait_started(proc: subprocess.Popen[bytes], log: Path, spawned: float, timeout_s: float) -> float:
    """Seconds from spawning the agent until its log says ``agent started``; exit if it dies or never does."""
    while True:
        if b"agent started" in log.read_bytes():
            return time.monotonic() - spawned
        if proc.poll() is not None:
            text = log.read_text(errors="replace")
            raise SystemExit(f"the agent exited ({proc.returncode}) before starting:\n{text}")
        if time.monotonic() - spawned > timeout_s:
            raise SystemExit(f"the agent did not start within {timeout_s:.0f} s")
        time.sleep(0.1)


if __name__ == "__main__":
    raise SystemExit(main())
