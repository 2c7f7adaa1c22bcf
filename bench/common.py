"""What every benchmark shares: figures and their table, CPU and memory read from /proc, percentiles, peers.

CPU is read from ``/proc/<pid>/stat`` (utime + stime of the process and its threads) for every process
measured, ours and the peers' alike, so the figures are comparable. The kernel counts in clock ticks
(``CLK_TCK``, 100 Hz here): windows are long enough that a tick is well under 1 % of what is measured.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import platform
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


@dataclass
class Figure:
    """One measured figure, with the goal it is held against (if any) and whether it met it."""

    bench: str
    name: str
    value: float | str
    unit: str = ""
    goal: str = ""
    met: bool | None = None
    note: str = ""

    def cell(self) -> str:
        """The value as printed in the table."""
        if isinstance(self.value, str):
            return self.value
        if self.value != self.value:  # NaN: nothing to measure
            return "n/a"
        magnitude = abs(self.value)
        digits = 0 if magnitude >= 100 else 1 if magnitude >= 10 else 2 if magnitude >= 1 else 3
        return f"{self.value:,.{digits}f}"


@dataclass
class Suite:
    """The figures one benchmark produced, plus lines of context (peers' versions, seeds, set-up)."""

    name: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(
        self, name: str, value: float | str, unit: str = "", goal: str = "", met: bool | None = None, note: str = ""
    ) -> Figure:
        """Record a figure and print it at once (long runs show progress)."""
        figure = Figure(self.name, name, value, unit, goal, met, note)
        self.figures.append(figure)
        mark = "" if met is None else (" ok" if met else " MISSED")
        print(f"  {name}: {figure.cell()} {unit}{'  (goal ' + goal + ')' if goal else ''}{mark}", flush=True)
        return figure

    def note(self, text: str) -> None:
        """Record and print a line of context."""
        self.notes.append(text)
        print(f"  - {text}", flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by the nearest-rank method; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean; NaN for no values."""
    return sum(values) / len(values) if values else math.nan


@dataclass(frozen=True)
class CpuSample:
    """utime and stime of a process (all its threads) at one moment, in seconds."""

    user_s: float
    system_s: float
    at: float  # time.monotonic()

    @property
    def total_s(self) -> float:
        """User plus system."""
        return self.user_s + self.system_s


def proc_cpu(pid: int | None = None) -> CpuSample:
    """CPU used so far by ``pid`` (default: this process), from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid or os.getpid()}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces
    return CpuSample(int(fields[11]) * TICK_S, int(fields[12]) * TICK_S, time.monotonic())


def rusage_cpu() -> CpuSample:
    """CPU used so far by this process (every thread), from ``getrusage(RUSAGE_SELF)`` (µs resolution)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return CpuSample(usage.ru_utime, usage.ru_stime, time.monotonic())


def proc_rss_kb(pid: int | None = None) -> tuple[int, int]:
    """(VmRSS, VmHWM) of ``pid`` in KiB: resident now, and the peak so far."""
    values = {"VmRSS": 0, "VmHWM": 0}
    for line in Path(f"/proc/{pid or os.getpid()}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in values:
            values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def loopback_hosts(n: int, second_octet: int = 0) -> list[str]:
    """``n`` distinct addresses in 127.<second_octet>.1.1 upwards (the whole of 127/8 is local)."""
    return [f"127.{second_octet}.{1 + i // 250}.{1 + i % 250}" for i in range(n)]


def tool_version(argv: Sequence[str]) -> str:
    """The first line a peer prints about its version, or why it cannot be run."""
    if shutil.which(argv[0]) is None:
        return f"{argv[0]}: not installed"
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)
    return (done.stdout or done.stderr).strip().splitlines()[0]


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError):
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    debian = ""
    with contextlib.suppress(OSError):
        debian = "Debian " + Path("/etc/debian_version").read_text().strip()
    return {
        "cpu": f"{os.cpu_count()} × {model}",
        "memory": f"{mem_kb / 1024 / 1024:.0f} GiB",
        "os": f"{debian}, Linux {platform.release()}".strip(", "),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "host": socket.gethostname(),
    }


def python_env() -> dict[str, str]:
    """The environment a child Python process needs to import this repo's packages."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}


def run_worker(spec: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Run ``bench.worker`` with ``spec`` (on stdin) in a fresh process, so its CPU is its own; return its answer."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=python_env(),
        cwd=ROOT,
    )
    try:
        out, err = proc.communicate(json.dumps(spec), timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise RuntimeError(f"bench worker ({spec.get('mode')}) ran past {timeout_s:.0f} s:\n{err[-2000:]}") from None
    if proc.returncode != 0:
        raise RuntimeError(f"bench worker ({spec.get('mode')}) failed ({proc.returncode}):\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


@contextlib.contextmanager
def servers(spec: dict[str, Any], timeout_s: float = 3600) -> Iterator[dict[str, Any]]:
    """Start loopback servers (``bench.servers``) in their own process; yields what they listen on."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.servers", json.dumps(spec)],
        stdout=subprocess.PIPE,
        text=True,
        env=python_env(),
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("bench servers did not start")
        yield {"pid": proc.pid, **json.loads(line)}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def utc_now_text() -> str:
    """The current time in UTC, for the results header."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
