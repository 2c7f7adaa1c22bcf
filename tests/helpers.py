"""Small builders shared by the tests (no fakes of real components here)."""

from __future__ import annotations

from watchdog.model import NS, FailureKind, Outage, Result, Role, Target

T0 = 1_790_000_000 * NS  # 2026-09-21T14:13:20Z, an arbitrary fixed origin for scripted histories


def target(
    key: str = "broker/trading",
    *,
    role: Role = Role.PROVIDER,
    interval_s: float = 10.0,
    failure_threshold: int = 3,
    success_threshold: int = 2,
    kind: str = "tcp",
) -> Target:
    """A Target for pure tests."""
    prefix, name = key.split("/")
    return Target(
        key=key,
        name=name,
        kind=kind,
        address="127.0.0.1:9",
        role=role,
        provider=prefix if role is Role.PROVIDER else None,
        interval_s=interval_s,
        timeout_s=interval_s / 2,
        failure_threshold=failure_threshold,
        success_threshold=success_threshold,
    )


def result(key: str, t_s: float, ok: bool, *, failure: FailureKind = FailureKind.CONNECT, detail: str = "") -> Result:
    """A result at T0 + t_s seconds."""
    return Result(
        target=key,
        ts_ns=T0 + int(t_s * NS),
        ok=ok,
        latency_s=0.001,
        failure=None if ok else failure,
        detail=detail or ("" if ok else "connect refused"),
    )


def outage(
    key: str, last_ok: float | None, start: float, last_fail: float | None, end: float | None, oid: int = 1
) -> Outage:
    """An outage with times in seconds after T0."""

    def ns(x: float) -> int:
        return T0 + int(x * NS)

    return Outage(
        id=oid,
        target=key,
        start_ns=ns(start),
        start_bounds=(None if last_ok is None else ns(last_ok), ns(start)),
        confirmed_ns=ns(start),
        end_ns=None if end is None else ns(end),
        end_bounds=None if end is None or last_fail is None else (ns(last_fail), ns(end)),
    )


class Switch:
    """A real TCP service on 127.0.0.1 that the test takes down (connection refused) and brings back.

    ``changes`` records the wall-clock ns of every switch, so tests compare reported bounds with the truth.
    """

    def __init__(self) -> None:
        import socket

        self.server = None
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.changes: list[tuple[str, int]] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def up(self) -> None:
        import asyncio
        import time

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        self.server = await asyncio.start_server(accept, "127.0.0.1", self.port, reuse_address=True)
        self.changes.append(("up", time.time_ns()))

    async def down(self) -> None:
        import time

        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        self.changes.append(("down", time.time_ns()))
