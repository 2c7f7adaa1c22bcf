"""B3 — Schedule accuracy: 1,000 targets at 5 s, idle and with the event loop's process loaded by reports.

The whole agent runs (``bench.worker``, mode ``agent``: scheduler, probes, journal) with 500 ICMP and
500 TCP targets on loopback. Start lateness is what the scheduler records itself
(:class:`~watchdog.agent.scheduler.ScheduleStats`, every start in the window); drift is how far each
target's stored timestamps moved off its own grid between the first and the last tenth of the window;
missed slots are the scheduler's count, and the results in the journal are checked against the number
of slots. The loaded run adds a thread in the agent's process that generates SLA reports
(``analyse`` + ``sla.compute``) over the B6 journal without pause, as a status page would; two more
runs locate the cost: the same thread with a 0.5 ms GIL switch interval, and the reports generated in
a process of their own (same CPU load on the machine, none in the agent's interpreter).
"""

from __future__ import annotations

import math
from typing import Any

from bench import reports
from bench.common import CACHE, Suite, loopback_hosts, run_worker, servers

TARGETS = 1000
INTERVAL_S = 5.0


def _spec(listening: dict[str, Any], duration_s: float) -> dict[str, Any]:
    icmp = [{"kind": "icmp", "address": h, "options": {"count": 1}} for h in loopback_hosts(TARGETS // 2, 1)]
    tcp = [{"kind": "tcp", "address": listening["tcp"][i % len(listening["tcp"])]} for i in range(TARGETS // 2)]
    return {
        "mode": "agent",
        "targets": [x for pair in zip(icmp, tcp, strict=True) for x in pair],
        "interval_s": INTERVAL_S,
        "timeout_s": 2.0,
        "warmup_s": 2 * INTERVAL_S,
        "duration_s": duration_s,
    }


def run(suite: Suite, *, full: bool) -> None:
    """Measure B3 without and with report load."""
    duration_s = 600.0 if full else 60.0
    days = 365 if full else 45
    journal = reports.journal_path(days)
    if not journal.exists():
        reports.build_journal(journal, days)
    config = CACHE / "reports-config.yaml"
    config.write_text(reports.CONFIG_TEXT)
    suite.note(f"{TARGETS} targets (500 ICMP, 500 TCP) at {INTERVAL_S:g} s, window {duration_s:.0f} s after a warm-up")
    hosts = [f"127.0.5.{i}" for i in range(1, 21)]
    with servers({"tcp": hosts}) as listening:
        base = {"journal": str(journal), "config": str(config), "period": f"{reports.YEAR}-02"}
        for label, load, seconds in (
            ("idle", None, duration_s),
            ("reports in a thread", {**base, "where": "thread"}, duration_s),
            ("reports in a thread, switch interval 0.5 ms", {**base, "switch_interval": 0.0005}, min(duration_s, 120)),
            ("reports in another process", {**base, "where": "process"}, min(duration_s, 120)),
        ):
            spec = {**_spec(listening, seconds), "load": load}
            r = run_worker(spec, timeout_s=seconds * 3 + 300)
            slots = TARGETS * seconds / INTERVAL_S
            missing = slots - r["probes"]
            if load:
                suite.note(f"{label}: {r['reports']} monthly reports generated during its {seconds:.0f} s window")
            suite.add(
                f"{label}: start lateness p50 / p99 / p99.9 / max",
                " / ".join(
                    f"{r[k] * 1e3:.2f}"
                    for k in ("lateness_p50_s", "lateness_p99_s", "lateness_p999_s", "lateness_max_s")
                ),
                "ms",
            )
            p99_ms = r["lateness_p99_s"] * 1e3
            goal = "≤ 5 ms" if "switch" not in label and "process" not in label else ""
            suite.add(f"{label}: start lateness p99", p99_ms, "ms", goal, (p99_ms <= 5.0) if goal else None)
            drift_ms = r["drift_p50_s"] * 1e3
            suite.add(
                f"{label}: drift over the window (median of the targets' fitted drift)",
                drift_ms,
                "ms",
                "≤ 1 ms",
                abs(drift_ms) <= 1.0,
                note=(
                    f"per target: p99 |drift| {r['drift_abs_p99_s'] * 1e3:.3f} ms, "
                    f"worst {r['drift_abs_max_s'] * 1e3:.3f} ms "
                    "(a fit over few probes per target also carries their jitter)"
                ),
            )
            suite.add(
                f"{label}: missed slots",
                float(r["missed_slots"]),
                "",
                "0",
                r["missed_slots"] == 0 and abs(missing) <= TARGETS,
                note=f"{r['probes']} results journaled for {slots:.0f} slots; failures {r['failures'] or 'none'}",
            )
            cpu = (r["cpu_user_s"] + r["cpu_sys_s"]) / r["window_s"] * 100
            suite.add(f"{label}: agent CPU", cpu if not math.isnan(cpu) else 0.0, "% of a core")
