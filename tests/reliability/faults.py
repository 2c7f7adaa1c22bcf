"""Fault-injection helpers: the agent as a real subprocess, journal readers, and network namespace topologies.

Everything here drives real parts: ``watchdog run`` started as a user starts it, SQLite read through
its own connections, namespaces and veth pairs made with ``ip``. Addresses are loopback or exist only
inside the namespaces a test creates.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
FAKETIME_LIB = next(
    (
        str(p)
        for p in (
            Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"),
            Path("/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"),
            Path("/usr/lib/arm-linux-gnueabihf/faketime/libfaketime.so.1"),
            Path("/usr/lib/faketime/libfaketime.so.1"),
        )
        if p.exists()
    ),
    None,
)


def agent_env(**extra: str) -> dict[str, str]:
    """The environment for a ``watchdog`` subprocess: this checkout first on the path."""
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


@dataclass
class AgentProcess:
    """``watchdog run -c CONFIG`` as a subprocess; its log (stderr) goes to a file the test can read."""

    config: Path
    log: Path
    prefix: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=agent_env)
    proc: subprocess.Popen[bytes] | None = None
    started_ns: int = 0

    def start(self, *args: str) -> AgentProcess:
        """Start it (appending to the log)."""
        self.started_ns = time.time_ns()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*self.prefix, sys.executable, "-m", "watchdog", "run", "-c", str(self.config), *args],
                stdout=log,
                stderr=log,
                env=self.env,
                cwd=ROOT,
            )
        return self

    def kill9(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or sealed."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self, timeout_s: float = 30) -> int:
        """SIGTERM and wait: the agent journals its stop and seals."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)

    def text(self) -> str:
        """Everything it logged so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def close(self) -> None:
        """Make sure it is gone (after a failed test)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.05) -> Any:
    """Poll until ``predicate()`` is truthy; fail the test with ``what`` on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(every_s)


def read_rows(journal: Path) -> dict[int, tuple[Any, ...]]:
    """Every committed row (results and events) by seq, read through a separate read-only connection."""
    if not journal.exists():
        return {}
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=10)
    try:
        conn.execute("PRAGMA busy_timeout=10000")
        rows: dict[int, tuple[Any, ...]] = {}
        try:
            for seq, *rest in conn.execute(
                "SELECT seq, target, ts_ns, latency_us, failure, detail, metrics FROM results"
            ):
                rows[seq] = ("result", *rest)
            for seq, *rest in conn.execute("SELECT seq, ts_ns, type, target, ref, data FROM events"):
                rows[seq] = ("event", *rest)
        except sqlite3.OperationalError as exc:  # the schema is not there yet: the agent is starting
            if "no such table" not in str(exc):
                raise
            return {}
        return rows
    finally:
        conn.close()


def first_result_after(journal: Path, since_ns: int) -> int | None:
    """The timestamp of the first result probed at or after ``since_ns``, if it is committed yet."""
    rows = read_rows(journal)
    stamps = [row[2] for row in rows.values() if row[0] == "result" and row[2] >= since_ns]
    return min(stamps) if stamps else None


# ------------------------------------------------------------------------------------------ namespaces


def netns_unavailable() -> str | None:
    """Why namespace tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2's `ip`"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"`ip netns` does not work here: {probe.stderr.strip()}"
    return None


def ip(*args: str) -> None:
    """Run ``ip`` and fail loudly."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


_serial = itertools.count()


@dataclass
class Topology:
    """Namespaces joined by veth pairs, each link a /30 from 10.213.0.0/16 that exists only inside them.

    ``link(a, b)`` joins two namespaces and returns the two addresses; ``route`` adds a route inside
    one; ``down``/``up`` flip a namespace's end of a link. Everything is deleted by :meth:`close`.
    """

    tag: str = field(default_factory=lambda: f"{os.getpid() % 10_000}x{next(_serial)}")
    namespaces: dict[str, str] = field(default_factory=dict)  # role -> namespace name
    devices: dict[tuple[str, str], str] = field(default_factory=dict)  # (role, peer role) -> device
    helpers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _subnets: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def ns(self, role: str) -> str:
        """The namespace of ``role``, created on first use with its loopback up."""
        if role not in self.namespaces:
            name = f"wdr-{role}-{self.tag}"
            ip("netns", "add", name)
            self.namespaces[role] = name
            ip("-n", name, "link", "set", "lo", "up")
        return self.namespaces[role]

    def link(self, a: str, b: str) -> tuple[str, str]:
        """A veth pair between ``a`` and ``b`` with a /30 each side; returns (a's address, b's address)."""
        n = next(self._subnets)
        net = f"10.213.{n}"
        dev_a, dev_b = f"wr{n}a{self.tag}"[:15], f"wr{n}b{self.tag}"[:15]
        ip("link", "add", dev_a, "netns", self.ns(a), "type", "veth", "peer", "name", dev_b, "netns", self.ns(b))
        ip("-n", self.ns(a), "addr", "add", f"{net}.1/30", "dev", dev_a)
        ip("-n", self.ns(b), "addr", "add", f"{net}.2/30", "dev", dev_b)
        ip("-n", self.ns(a), "link", "set", dev_a, "up")
        ip("-n", self.ns(b), "link", "set", dev_b, "up")
        self.devices[(a, b)], self.devices[(b, a)] = dev_a, dev_b
        return f"{net}.1", f"{net}.2"

    def route(self, role: str, *spec: str) -> None:
        """``ip route replace SPEC`` inside ``role``'s namespace."""
        ip("-n", self.ns(role), "route", "replace", *spec)

    def forward(self, role: str) -> None:
        """Let ``role`` route between its links (a router)."""
        self.exec(role, "sysctl", "-qw", "net.ipv4.ip_forward=1")

    def down(self, role: str, peer: str) -> None:
        """Take ``role``'s end of the link to ``peer`` down."""
        ip("-n", self.ns(role), "link", "set", self.devices[(role, peer)], "down")

    def up(self, role: str, peer: str) -> None:
        """Bring it back."""
        ip("-n", self.ns(role), "link", "set", self.devices[(role, peer)], "up")

    def exec(self, role: str, *argv: str) -> None:
        """Run a command inside ``role``'s namespace and wait for it."""
        subprocess.run(["ip", "netns", "exec", self.ns(role), *argv], check=True, capture_output=True)

    def spawn(self, role: str, *argv: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start a long-running helper inside ``role``'s namespace (killed by :meth:`close`)."""
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns(role), *argv], **kwargs)
        self.helpers.append(proc)
        return proc

    def close(self) -> None:
        """Kill the helpers and delete every namespace (their veth ends go with them)."""
        for proc in self.helpers:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(30)
            for stream in (proc.stdout, proc.stderr, proc.stdin):
                if stream is not None:
                    stream.close()
        for name in self.namespaces.values():
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


class TcpListener:
    """A TCP listener on 127.0.0.1 served by a thread that accepts and closes; ``stop`` closes it (refused)."""

    def __init__(self, port: int = 0) -> None:
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(1024)
        self.port = int(self.sock.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed by stop()
                return
            conn.close()

    def stop(self) -> None:
        import socket

        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(5)


def seed_for_test(default: int | None = None) -> int:
    """The seed for a randomised test: ``WATCHDOG_TEST_SEED`` if set, else a fresh one (always printed)."""
    import random

    text = os.environ.get("WATCHDOG_TEST_SEED")
    seed = int(text) if text else (default if default is not None else random.SystemRandom().randrange(1 << 31))
    print(f"seed={seed} (rerun with WATCHDOG_TEST_SEED={seed})")
    return seed
