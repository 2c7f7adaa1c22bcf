"""Issue 19: the whole agent beside its probe path and the peer, for every kind, repeated.

``python -m bench.whole_agent [--runs 3] [--window 20] [--agent-window 62] [--only icmp,tcp_http] [--out FILE]``

Each run measures, one after another on the same loopback targets:

* ICMP, N = 1,000 and 5,000 targets at 1 probe/s each: fping in loop mode; the agent's probe path
  (``bench.worker`` mode ``prober``: scheduler, runner, shared-socket probe, the collector tuned as the agent
  tunes it, a tuple per result kept for the summary);
  the whole agent (mode ``agent``: :class:`watchdog.agent.core.Agent` with its journal, detectors,
  board, group commit, GC tuning as ``watchdog run`` does). fping's gap ``-i`` is found by trying so
  that it reaches the asked rate (``bench.icmp.run_fping_matched``; at N=5,000 ``-i 0.19`` reached only
  3,200–3,740 probes/s), and its achieved rate is shown.
* TCP and HTTP (fresh connection), 500 targets at 1 s: blackbox_exporter 0.23 driven at the same rate
  (its own CPU), the probe path, the whole agent.

The whole agent is measured over ``--agent-window`` (62 s after the warm-up), so that its window holds
the seal the agent makes 60 s after its start (reading back and hashing the minute's rows: part of what a
result costs; a 20 s window would leave it out); the peers and the probe path over ``--window``.

Our CPU is ``getrusage(RUSAGE_SELF)`` of the worker process over the window (every thread: the journal
writer's included); the peers' from ``/proc/<pid>/stat``. The table gives min / median / max over the
runs for each figure; ratios are computed within a run (ours ÷ the peer's in the same run) and then
summarised.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, loopback_hosts, machine, run_worker, servers, utc_now_text
from bench.icmp import TIMEOUT_S, run_fping_matched
from bench.tcp_http import _spec, run_blackbox

Figures = dict[str, tuple[float, str]]  # name -> (value, unit)


def _us(r: dict[str, Any]) -> float:
    return (r["cpu_user_s"] + r["cpu_sys_s"]) / max(1, r["probes"]) * 1e6


def _ours(figures: Figures, prefix: str, mode: str, r: dict[str, Any], asked: int) -> None:
    label = "probe path" if mode == "prober" else "whole agent"
    figures[f"{prefix}: {label} CPU per probe"] = (_us(r), "µs")
    figures[f"{prefix}: {label} probes/s"] = (r["probes"] / r["window_s"], f"/s of {asked:,}")
    figures[f"{prefix}: {label} false loss"] = (100 * sum(r["failures"].values()) / max(1, r["probes"]), "%")
    figures[f"{prefix}: {label} start lateness p99"] = (r["lateness_p99_s"] * 1e3, "ms")
    if mode == "agent":
        figures[f"{prefix}: whole agent rows per commit"] = (r.get("rows_per_commit", float("nan")), "rows")
        sealed = r.get("sealed_in_window", {}).get("rows", 0)
        figures[f"{prefix}: whole agent rows sealed in the window ÷ results"] = (sealed / max(1, r["probes"]), "×")


def icmp_round(warmup_s: float, window_s: float, agent_window_s: float = 62.0) -> Figures:
    figures: Figures = {}
    for n in (1000, 5000):
        hosts = loopback_hosts(n, second_octet=0)
        prefix = f"icmp N={n}"
        peer = run_fping_matched(hosts, warmup_s, window_s)
        peer_us = peer["cpu_s"] / max(1, peer["probes"]) * 1e6
        figures[f"{prefix}: fping CPU per probe"] = (peer_us, "µs")
        figures[f"{prefix}: fping probes/s"] = (peer["achieved"], f"/s of {n:,} (-i {peer['gap_ms']} ms)")
        spec = {
            "targets": [{"kind": "icmp", "address": h, "options": {"count": 1}} for h in hosts],
            "interval_s": 1.0,
            "timeout_s": TIMEOUT_S,
            "warmup_s": warmup_s,
            "duration_s": window_s,
        }
        for mode in ("prober", "agent"):
            duration = agent_window_s if mode == "agent" else window_s
            r = run_worker({**spec, "mode": mode, "duration_s": duration}, timeout_s=duration * 4 + 180)
            _ours(figures, prefix, mode, r, n)
            label = "probe path" if mode == "prober" else "whole agent"
            figures[f"{prefix}: {label} ÷ fping CPU"] = (_us(r) / peer_us, "×")
        figures[f"{prefix}: outside the probe ÷ probe path"] = (
            figures[f"{prefix}: whole agent CPU per probe"][0] / figures[f"{prefix}: probe path CPU per probe"][0] - 1,
            "×",
        )
    return figures


def tcp_http_round(
    warmup_s: float, window_s: float, rate: int = 500, *, aiohttp_too: bool = False, agent_window_s: float = 62.0
) -> Figures:
    """TCP and HTTP against blackbox_exporter; with ``aiohttp_too`` HTTP also through aiohttp's client.

    The agent's plain ``http://`` GET to an IP address goes through its lean client; the same targets with
    ``follow_redirects: true`` (the bench servers never redirect, so the answer is the same) go through
    aiohttp, which gives the lean client's gain against the same peer figure in the same run.
    """
    figures: Figures = {}
    hosts = [f"127.0.3.{i}" for i in range(1, 21)]
    with servers({"tcp": hosts, "http": hosts}) as listening:
        for kind, module in (("tcp", "tcp_connect"), ("http", "http_2xx")):
            addresses = [listening[kind][i % len(hosts)] for i in range(rate)]
            peer = run_blackbox(module, addresses, warmup_s, window_s)
            peer_us = peer["cpu_s"] / max(1, peer["probes"]) * 1e6
            variants: list[tuple[str, dict[str, Any]]] = [(kind if kind == "tcp" else "http (fresh connection)", {})]
            if kind == "http" and aiohttp_too:
                variants.append(("http (fresh connection, aiohttp's client)", {"follow_redirects": True}))
            for prefix, options in variants:
                figures[f"{prefix}: blackbox_exporter CPU per probe"] = (peer_us, "µs")
                for mode in ("prober", "agent"):
                    spec = {
                        **_spec(kind, addresses, warmup_s, agent_window_s if mode == "agent" else window_s),
                        "mode": mode,
                    }
                    if options:
                        spec["targets"] = [{**t, "options": options} for t in spec["targets"]]
                    r = run_worker(spec, timeout_s=max(window_s, agent_window_s) * 4 + 180)
                    _ours(figures, prefix, mode, r, rate)
                    label = "probe path" if mode == "prober" else "whole agent"
                    figures[f"{prefix}: {label} ÷ blackbox_exporter CPU"] = (_us(r) / peer_us, "×")
                figures[f"{prefix}: outside the probe ÷ probe path"] = (
                    figures[f"{prefix}: whole agent CPU per probe"][0]
                    / figures[f"{prefix}: probe path CPU per probe"][0]
                    - 1,
                    "×",
                )
    return figures


def _cell(value: float) -> str:
    if value != value:
        return "n/a"
    magnitude = abs(value)
    digits = 0 if magnitude >= 100 else 1 if magnitude >= 10 else 2 if magnitude >= 1 else 3
    return f"{value:,.{digits}f}"


def table(rounds: list[Figures]) -> list[str]:
    lines = ["| figure | min | median | max | unit |", "|---|---:|---:|---:|---|"]
    for name in rounds[0]:
        values = [r[name][0] for r in rounds if name in r]
        lines.append(
            f"| {name} | {_cell(min(values))} | {_cell(statistics.median(values))} | {_cell(max(values))} "
            f"| {rounds[0][name][1]} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.whole_agent", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=float, default=20.0, help="measured seconds per run (after a warm-up)")
    parser.add_argument(
        "--agent-window",
        type=float,
        default=62.0,
        help="the whole agent's measured seconds: long enough to hold its seal, 60 s after the start",
    )
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--only", default="icmp,tcp_http")
    parser.add_argument(
        "--aiohttp", action="store_true", help="also run the HTTP targets through aiohttp's client (follow_redirects)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS-whole-agent.md")
    args = parser.parse_args(argv)
    chosen = args.only.split(",")
    rounds: list[Figures] = []
    t0 = time.monotonic()
    for n in range(args.runs):
        figures: Figures = {}
        if "icmp" in chosen:
            figures.update(icmp_round(args.warmup, args.window, args.agent_window))
        if "tcp_http" in chosen:
            figures.update(
                tcp_http_round(args.warmup, args.window, aiohttp_too=args.aiohttp, agent_window_s=args.agent_window)
            )
        for name, (value, unit) in figures.items():
            print(f"  run {n + 1}: {name}: {_cell(value)} {unit}", flush=True)
        rounds.append(figures)
    info = machine()
    text = [
        "# Whole agent beside the probe path and the peers (issue 19)",
        "",
        f"Measured {utc_now_text()} on `{info['host']}`: {info['cpu']}, {info['os']}, Python {info['python']}, "
        f"SQLite {info['sqlite']}. Command: `python -m bench.whole_agent --runs {args.runs} --window "
        f"{args.window:g} --agent-window {args.agent_window:g} --only {args.only}"
        f"{' --aiohttp' if args.aiohttp else ''}`; {args.runs} runs, "
        f"{time.monotonic() - t0:.0f} s in all.",
        "",
        *table(rounds),
        "",
    ]
    args.out.write_text("\n".join(text))
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
