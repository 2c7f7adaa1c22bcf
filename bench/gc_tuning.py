"""Issue 19: the whole agent with and without its GC tuning, runs alternated in the same time window.

``python -m bench.gc_tuning [--targets 5000] [--runs 3] [--window 60] [--warmup 10]``

Runs ``bench.worker`` mode ``agent`` (the whole agent: journal, group commit, detectors, board) on N
loopback ICMP targets at 1 s, alternately with ``tune_gc`` off (Python's default collector) and on
(``gc.collect(); gc.freeze()`` before the first probe, gen-0 threshold ``GC_GEN0_THRESHOLD``), and prints per run:
probes/s, start lateness p50/p99/max, CPU per probe, the collector's pauses in the window (from
``gc.callbacks``) and resident memory sampled through the window (does it grow?). Alternating keeps a
shared machine's load changes from landing on one side only. Every address is in 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import json

from bench.common import loopback_hosts, run_worker, utc_now_text
from bench.icmp import TIMEOUT_S


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gc_tuning", description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3, help="runs of each side, alternated")
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--rss-every", type=float, default=10.0)
    args = parser.parse_args(argv)
    hosts = loopback_hosts(args.targets, second_octet=0)
    spec = {
        "mode": "agent",
        "targets": [{"kind": "icmp", "address": h, "options": {"count": 1}} for h in hosts],
        "interval_s": 1.0,
        "timeout_s": TIMEOUT_S,
        "warmup_s": args.warmup,
        "duration_s": args.window,
        "rss_every_s": args.rss_every,
    }
    print(f"# {utc_now_text()}: {args.targets} ICMP targets at 1 s, {args.runs} runs a side, {args.window:g} s windows")
    for n in range(args.runs):
        for tune in (False, True):
            r = run_worker({**spec, "tune_gc": tune}, timeout_s=args.window * 4 + 240)
            us = (r["cpu_user_s"] + r["cpu_sys_s"]) / max(1, r["probes"]) * 1e6
            rss = [round(kb / 1024, 1) for kb in r["rss_kb_samples"]]
            row = {
                "run": n + 1,
                "gc_tuned": tune,
                "probes_per_s": round(r["probes"] / r["window_s"]),
                "late_p50_ms": round(r["lateness_p50_s"] * 1e3, 2),
                "late_p99_ms": round(r["lateness_p99_s"] * 1e3, 2),
                "late_max_ms": round(r["lateness_max_s"] * 1e3, 1),
                "missed_slots": r["missed_slots"],
                "cpu_us_per_probe": round(us),
                "gc_collections": r["gc"]["collections"],
                "gc_pause_max_ms": round(r["gc"]["pause_max_s"] * 1e3, 2),
                "gc_pause_total_ms": round(r["gc"]["pause_total_s"] * 1e3, 1),
                "rss_mb": rss,
                "failures": r["failures"],
            }
            print(json.dumps(row, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
