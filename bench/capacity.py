"""Issue 19: the whole agent's capacity per probe kind — the highest rate at which probes still start on time.

``python -m bench.capacity [--rounds 1] [--window 20] [--kinds icmp,tcp,http]``

For each kind the whole agent (``bench.worker`` mode ``agent``: journal, group commit, detectors, board,
GC tuning) probes N loopback targets at 1 s, N stepping up through ``RATES``; a step is *sustained* only
if (``sustained``) at least 99 % of the asked probes ran, no slot was skipped, at most 0.1 % failed, and
the start lateness p99 stayed ≤ 5 ms — the probe count alone is not enough (B2's ramp once reported
"0 missed slots" at 2,000/s with p99 lateness 214–582 ms). The ramp stops at the first step not
sustained (``--keep-going``: every step is run and printed, the capacity is still the last step of the
unbroken run from the bottom). A busy machine breaks the 5 ms long before the agent's own CPU does: the
CPU share printed beside each step says how much of a core the agent took. ICMP counts echo
requests (``count: 1`` here). Every address is in 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from bench.common import loopback_hosts, run_worker, servers, utc_now_text
from bench.icmp import TIMEOUT_S

LATENESS_GOAL_S = 0.005  # issue 19: p99 start lateness ≤ 5 ms
RATES: dict[str, tuple[int, ...]] = {
    "icmp": (500, 1000, 2000, 3000),
    "tcp": (250, 500, 750, 1000),
    "http": (250, 500, 750, 1000),
}


def sustained(r: dict[str, Any], asked: float, lateness_goal_s: float = LATENESS_GOAL_S) -> tuple[bool, str]:
    """Whether a worker run kept up with ``asked`` probes/s, and why not."""
    achieved = r["probes"] / r["window_s"]
    failed = sum(r["failures"].values())
    reasons = []
    if achieved < 0.99 * asked:
        reasons.append(f"{achieved:,.0f} of {asked:,.0f} probes/s ran")
    if r["missed_slots"]:
        reasons.append(f"{r['missed_slots']:,} slots skipped")
    if failed > 0.001 * max(1, r["probes"]):
        reasons.append(f"{failed:,} failed")
    if not r["lateness_p99_s"] <= lateness_goal_s:
        reasons.append(f"p99 lateness {r['lateness_p99_s'] * 1e3:,.1f} ms")
    return not reasons, "; ".join(reasons)


def _step(kind: str, rate: int, addresses: list[str], warmup_s: float, window_s: float) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "mode": "agent",
        "targets": [
            {"kind": kind, "address": a, **({"options": {"count": 1}} if kind == "icmp" else {})} for a in addresses
        ],
        "interval_s": 1.0,
        "timeout_s": TIMEOUT_S if kind == "icmp" else 0.9,
        "warmup_s": warmup_s,
        "duration_s": window_s,
        "rss_every_s": window_s,
    }
    r = run_worker(spec, timeout_s=window_s * 4 + 240)
    ok, why = sustained(r, rate)
    return {
        "kind": kind,
        "asked": rate,
        "achieved": round(r["probes"] / r["window_s"]),
        "late_p50_ms": round(r["lateness_p50_s"] * 1e3, 2),
        "late_p99_ms": round(r["lateness_p99_s"] * 1e3, 2),
        "missed_slots": r["missed_slots"],
        "cpu_pct_of_a_core": round(100 * (r["cpu_user_s"] + r["cpu_sys_s"]) / r["window_s"]),
        "sustained": ok,
        "why_not": why,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--kinds", default="icmp,tcp,http")
    parser.add_argument("--keep-going", action="store_true", help="run every step, not only up to the first miss")
    parser.add_argument("--rates", default="", help="steps instead of RATES, e.g. icmp:1000/2000,tcp:500")
    args = parser.parse_args(argv)
    kinds = args.kinds.split(",")
    rates = dict(RATES)
    for item in filter(None, args.rates.split(",")):
        kind, _, steps = item.partition(":")
        rates[kind] = tuple(int(x) for x in steps.split("/"))
    print(f"# {utc_now_text()}: whole agent, kinds {args.kinds}, {args.rounds} rounds, {args.window:g} s windows")
    hosts = [f"127.0.3.{i}" for i in range(1, 21)]
    with servers({"tcp": hosts, "http": hosts}) as listening:
        for n in range(args.rounds):
            for kind in kinds:
                best, held = 0, True
                for rate in rates[kind]:
                    if kind == "icmp":
                        addresses = loopback_hosts(rate, second_octet=0)
                    else:
                        addresses = [listening[kind][i % len(hosts)] for i in range(rate)]
                    step = _step(kind, rate, addresses, args.warmup, args.window)
                    print(json.dumps({"round": n + 1, **step}), flush=True)
                    held = held and step["sustained"]
                    if held:
                        best = rate
                    elif not args.keep_going:
                        break
                print(json.dumps({"round": n + 1, "kind": kind, "capacity_probes_per_s": best}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
