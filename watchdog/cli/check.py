"""``watchdog check``: probe every target once and print a table (exit 0 all up, 1 some down)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from probes import REGISTRY
from watchdog.agent.runner import run_probe
from watchdog.cli import EXIT_DOWN, EXIT_OK, add_config_arg, add_json_arg, load_config, print_json, table
from watchdog.config import Config
from watchdog.model import Result
from watchdog.probe import ProbeContext
from watchdog.timefmt import utc_iso


def register(sub: Any) -> None:
    """Add ``check``."""
    parser = sub.add_parser("check", help="probe every target once; exit 0 all up, 1 something down, 2 bad config")
    add_config_arg(parser)
    add_json_arg(parser)
    parser.set_defaults(handler=handle)


async def probe_all(config: Config) -> tuple[list[Result], list[str]]:
    """One round over every target, concurrently; returns results in config order and setup problems."""
    ctx = ProbeContext()
    problems: list[str] = []
    try:
        for kind, probe in REGISTRY.items():
            targets = [t for t in config.targets if t.kind == kind]
            if targets and probe.setup is not None:
                problems += await probe.setup(ctx, targets)
        limiter = asyncio.Semaphore(config.agent.concurrency)

        async def one(target: Any) -> Result:
            async with limiter:
                return await run_probe(REGISTRY[target.kind], target, ctx)

        results = await asyncio.gather(*(one(t) for t in config.targets))
    finally:
        await ctx.aclose()
    return list(results), problems


def handle(args: argparse.Namespace) -> int:
    """Probe, print, exit."""
    config = load_config(args)
    results, problems = asyncio.run(probe_all(config))
    down = [r for r in results if not r.ok]
    if args.json:
        print_json(
            {
                "ok": not down,
                "problems": problems,
                "results": [
                    {
                        "target": r.target,
                        "kind": config.target(r.target).kind,
                        "address": config.target(r.target).address,
                        "ok": r.ok,
                        "ts": utc_iso(r.ts_ns),
                        "ts_ns": r.ts_ns,
                        "latency_s": None if r.latency_s is None else round(r.latency_s, 6),
                        "failure": r.failure.value if r.failure else None,
                        "detail": r.detail,
                        "metrics": dict(r.metrics),
                    }
                    for r in results
                ],
            }
        )
    else:
        for problem in problems:
            print(f"warning: {problem}")
        rows = []
        for r in results:
            t = config.target(r.target)
            latency = "" if r.latency_s is None else f"{r.latency_s * 1000:.1f} ms"
            rows.append([r.target, t.kind, "up" if r.ok else "DOWN", latency, r.failure or "", r.detail])
        print(table(["target", "kind", "state", "latency", "failure", "detail"], rows))
        print(f"\n{len(results) - len(down)}/{len(results)} up")
    return EXIT_DOWN if down else EXIT_OK
