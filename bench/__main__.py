"""``python -m bench [--full] [--only NAMES] [--out FILE]``: run the benchmarks, print figures, write RESULTS.md.

The default run is short (minutes); ``--full`` runs the long versions the goals are stated for (10-minute
schedule and footprint runs, longer windows). The table goes to ``bench/RESULTS.md`` with the date and
the machine, unless ``--only`` picks a subset (then pass ``--out`` to write it anyway).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

from bench.common import ROOT, Suite, machine, utc_now_text

SUITES = [
    ("icmp", "B1 ICMP: CPU per probe and RTT fidelity, agent vs fping"),
    ("tcp_http", "B2 TCP and HTTP: CPU per probe, agent vs blackbox_exporter"),
    ("schedule", "B3 Schedule accuracy: 1,000 targets at 5 s"),
    ("outage_window", "B4 Outage-window accuracy: scripted outages on loopback"),
    ("footprint", "B5 Footprint: 50 targets at 10 s"),
    ("footprint_quality", "B5q Degraded-state tracking: B5 with and without quality limits, interleaved"),
    ("reports", "B6 Reports at scale: a year of 10 s results for 20 targets"),
]


def markdown(suites: list[Suite], full: bool, command: str) -> str:
    """The results table with its header."""
    info = machine()
    lines = [
        "# Benchmark results",
        "",
        f"Measured {utc_now_text()} on `{info['host']}`: {info['cpu']}, {info['memory']} RAM, {info['os']}, "
        f"Python {info['python']}, SQLite {info['sqlite']}. Command: `{command}`"
        + (" (full-length runs)." if full else " (short runs; `--full` gives the lengths the goals are stated for)."),
        "",
        "Every peer ran in the same invocation, on the same machine and the same loopback targets; a ratio is",
        "ours ÷ the peer's. Nothing here is asserted by the test suite: these are measurements.",
        "",
    ]
    for suite in suites:
        lines += [f"## {suite.title}", "", f"Run time {suite.seconds:.0f} s.", ""]
        for note in suite.notes:
            lines.append(f"- {note}")
        if suite.notes:
            lines.append("")
        lines += ["| figure | value | unit | goal | met | note |", "|---|---:|---|---|---|---|"]
        for f in suite.figures:
            met = "" if f.met is None else ("yes" if f.met else "**no**")
            lines.append(f"| {f.name} | {f.cell()} | {f.unit} | {f.goal} | {met} | {f.note} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen suites in order; a failing suite is reported and the others still run."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="full-length runs (the goals' durations)")
    parser.add_argument("--only", help="comma-separated: " + ", ".join(name for name, _ in SUITES))
    parser.add_argument("--out", type=Path, help="write the Markdown table here (default bench/RESULTS.md)")
    parser.add_argument("--seed", type=int, help="seed for the scripted outages (default: random, printed)")
    args = parser.parse_args(argv)
    chosen = [name for name, _ in SUITES] if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = set(chosen) - {name for name, _ in SUITES}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    suites: list[Suite] = []
    failed = False
    for name, title in SUITES:
        if name not in chosen:
            continue
        suite = Suite(name, title)
        print(f"== {title}", flush=True)
        t0 = time.monotonic()
        try:
            module = importlib.import_module(f"bench.{name}")
            if name == "outage_window":
                module.run(suite, full=args.full, seed=args.seed)
            else:
                module.run(suite, full=args.full)
        except Exception as exc:  # one broken benchmark must not lose the others' figures
            failed = True
            traceback.print_exc()
            suite.note(f"FAILED: {type(exc).__name__}: {exc}")
        suite.seconds = time.monotonic() - t0
        suites.append(suite)
    command = "python -m bench" + (" --full" if args.full else "") + (f" --only {args.only}" if args.only else "")
    out = args.out or (ROOT / "bench" / "RESULTS.md" if not args.only else None)
    if out is not None:
        out.write_text(markdown(suites, args.full, command))
        print(f"wrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
