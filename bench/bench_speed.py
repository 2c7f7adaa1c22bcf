"""Speed probe CPU per Gbit moved vs iperf3's own client, on the same loopback (issue 16 benchmark).

``python -m bench.bench_speed [--seconds 5]``. The servers run in child processes whose CPU is not counted:
for the HTTP probe, ``python -m http.server`` serving a sparse file; for iperf3, ``iperf3 -s -1``. Ours is
the probe's process CPU (getrusage of this process around one ``run_probe``); iperf3's is its client's
(``os.wait4`` rusage of ``iperf3 -c -R``). Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def ours(seconds: float) -> tuple[float, float]:
    """(CPU seconds, bits moved) of one HTTP speed probe against a local file server."""
    from probes import REGISTRY
    from probes.speed import SpeedOptions
    from watchdog.agent.runner import run_probe
    from watchdog.model import Role, Target
    from watchdog.probe import ProbeContext

    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.bin"
        with big.open("wb") as f:
            f.truncate(64 * 1024**3)  # sparse: the server reads zeros
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", tmp],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_port(port)
            options = SpeedOptions.model_validate({"max_seconds": f"{seconds:g}s", "max_bytes": 10 * 1024**3})
            target = Target("b/s", "s", "speed", f"http://127.0.0.1:{port}/big.bin", Role.PROVIDER, "b", 3600.0,
                            seconds + 30, options=options)  # fmt: skip

            async def once() -> tuple[float, float]:
                ctx = ProbeContext()
                before = resource.getrusage(resource.RUSAGE_SELF)
                result = await run_probe(REGISTRY["speed"], target, ctx)
                after = resource.getrusage(resource.RUSAGE_SELF)
                await ctx.aclose()
                assert result.ok, result.detail
                cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                return cpu, result.metrics["download_bytes"] * 8

            return asyncio.run(once())
        finally:
            server.kill()
            server.wait()


def iperf3(seconds: float) -> tuple[float, float]:
    """(CPU seconds, bits moved) of iperf3's client receiving (-R) from a local iperf3 server."""
    port = _free_port()
    server = subprocess.Popen(["iperf3", "-s", "-1", "-p", str(port), "-B", "127.0.0.1"], stdout=subprocess.DEVNULL)
    try:
        time.sleep(1.0)  # not a test connect: `-1` would take it for its one client
        client = subprocess.Popen(
            ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-R", "-J", "-t", f"{max(1, round(seconds))}"],
            stdout=subprocess.PIPE,
        )
        assert client.stdout is not None
        out = client.stdout.read()
        _pid, _status, usage = os.wait4(client.pid, 0)
        client.returncode = 0
        report = json.loads(out)
        bits = float(report["end"]["sum_received"]["bytes"]) * 8
        return usage.ru_utime + usage.ru_stime, bits
    finally:
        server.kill()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=1, help="ours then iperf3, this many times (a loaded machine)")
    args = parser.parse_args()
    ratios, per = [], {"ours": [], "iperf3": []}
    for _ in range(args.rounds):
        our_cpu, our_bits = ours(args.seconds)
        ip_cpu, ip_bits = iperf3(args.seconds)
        ours_per = our_cpu / (our_bits / 1e9)
        theirs_per = ip_cpu / (ip_bits / 1e9)
        rows = (("speed probe (http)", our_bits, our_cpu, ours_per), ("iperf3 client -R", ip_bits, ip_cpu, theirs_per))
        for name, bits, cpu, p in rows:
            print(f"{name:20s} {bits / 1e9:.2f} Gbit in {args.seconds:g} s, CPU {cpu:.3f} s, {p:.4f} s/Gbit")
        print(f"ratio ours / iperf3: {ours_per / theirs_per:.2f}x (goal <= 2x)", flush=True)
        ratios.append(ours_per / theirs_per)
        per["ours"].append(ours_per)
        per["iperf3"].append(theirs_per)
    if args.rounds > 1:
        for name, values in per.items():
            print(f"{name}: {min(values):.4f}-{max(values):.4f} s/Gbit over {len(values)} rounds")
        print(f"ratio: {min(ratios):.2f}-{max(ratios):.2f}x")


if __name__ == "__main__":
    main()
