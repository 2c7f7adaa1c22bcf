"""Issue 19: the whole agent on asyncio's event loop and on uvloop's, runs alternated in the same time window.

``python -m bench.event_loop [--runs 3] [--window 20] [--warmup 5] [--only icmp1000,icmp5000,tcp,http]``

Runs ``bench.worker`` mode ``agent`` (the whole agent as ``watchdog run`` runs it: journal, group commit,
detectors, board, GC tuning) on the same loopback targets at 1 s each, alternately on the standard
library's event loop and on uvloop's (``agent.event_loop: uvloop``), and prints one JSON line per run:
CPU per probe, probes/s, start lateness p50/p99/max. Alternating keeps a shared machine's load changes
from landing on one side only. Every address is in 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from bench.common import loopback_hosts, run_worker, servers, utc_now_text
from bench.icmp import TIMEOUT_S
from bench.tcp_http import _spec

RATE = 500  # TCP and HTTP targets, at 1 s each (bench.whole_agent's rate)


def _row(case: str, loop: str, n: int, r: dict[str, Any]) -> dict[str, Any]:
    return {
        "case": case,
        "run": n,
        "loop": loop,
        "probes_per_s": round(r["probes"] / r["window_s"]),
        "cpu_us_per_probe": round((r["cpu_user_s"] + r["cpu_sys_s"]) / max(1, r["probes"]) * 1e6, 1),
        "late_p50_ms": round(r["lateness_p50_s"] * 1e3, 2),
        "late_p99_ms": round(r["lateness_p99_s"] * 1e3, 2),
        "late_max_ms": round(r["lateness_max_s"] * 1e3, 1),
        "failures": r["failures"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.event_loop", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each side, alternated")
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--only", default="icmp1000,icmp5000,tcp,http")
    args = parser.parse_args(argv)
    cases = args.only.split(",")
    print(f"# {utc_now_text()}: whole agent, asyncio vs uvloop, {args.runs} runs a side, {args.window:g} s windows")
    hosts = [f"127.0.3.{i}" for i in range(1, 21)]
    with servers({"tcp": hosts, "http": hosts}) as listening:
        specs: dict[str, dict[str, Any]] = {}
        for case in cases:
            if case.startswith("icmp"):
                n = int(case[4:])
                specs[case] = {
                    "targets": [
                        {"kind": "icmp", "address": h, "options": {"count": 1}}
                        for h in loopback_hosts(n, second_octet=0)
                    ],
                    "interval_s": 1.0,
                    "timeout_s": TIMEOUT_S,
                    "warmup_s": args.warmup,
                    "duration_s": args.window,
                }
            else:
                addresses = [listening[case][i % len(hosts)] for i in range(RATE)]
                specs[case] = _spec(case, addresses, args.warmup, args.window)
        for n in range(1, args.runs + 1):
            for case, spec in specs.items():
                for loop in ("asyncio", "uvloop"):
                    r = run_worker({**spec, "mode": "agent", "loop": loop}, timeout_s=args.window * 4 + 240)
                    print(json.dumps(_row(case, loop, n, r), ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
