"""Small builders shared by the tests (no fakes of real components here)."""

from __future__ import annotations

import socket

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
        self.server = None
        # The port stays bound (not listening: a connect is refused, as when the service is down) from here
        # on, so no other test's outgoing connection can take it as its ephemeral port before ``up`` listens
        # on it (CI saw "address already in use" when the port was only picked and closed).
        self._reserved: socket.socket | None = self._bind(0)
        self.port = self._reserved.getsockname()[1]
        self.changes: list[tuple[str, int]] = []

    @staticmethod
    def _bind(port: int) -> socket.socket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        return sock

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def up(self) -> None:
        import asyncio
        import time

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        sock, self._reserved = self._reserved or self._bind(self.port), None
        try:
            self.server = await asyncio.start_server(accept, sock=sock)
        except BaseException:
            sock.close()
            raise
        self.changes.append(("up", time.time_ns()))

    async def down(self) -> None:
        import time

        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
            self._reserved = self._bind(self.port)  # held again at once: refused, and nobody else's port
        self.changes.append(("down", time.time_ns()))

    def close(self) -> None:
        """Give the port back (a test that is done with the switch; also when it is collected)."""
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None

    def __del__(self) -> None:
        self.close()


class ScriptedJournal:
    """Writes a journal from a script (runs and outages at given seconds after T0), for golden tests.

    Times are seconds after ``origin_ns``; everything goes through the real Journal API.
    """

    def __init__(self, path, targets, origin_ns: int = T0) -> None:
        from watchdog.journal.store import Journal

        self.origin = origin_ns
        self.journal = Journal.open(path)
        self.journal.register_targets(targets, now_ns=origin_ns)
        self.ids = {t.key: self.journal.target_id(t.key) for t in targets}
        self._runs = 0

    def ns(self, seconds: float) -> int:
        return self.origin + round(seconds * NS)

    def run(self, start_s: float, end_s: float | None, *, clean: bool = True) -> str:
        from watchdog.journal.schema import EV_AGENT_START, EV_AGENT_STOP, EV_RUN_END_RECOVERED

        self._runs += 1
        run_id = f"run{self._runs}"
        self.journal.add_event(
            EV_AGENT_START, {"run": run_id, "targets": sorted(self.ids.values())}, ts_ns=self.ns(start_s)
        )
        if end_s is not None:
            if clean:
                self.journal.add_event(EV_AGENT_STOP, {"run": run_id, "reason": "stopped"}, ts_ns=self.ns(end_s))
            else:
                self.journal.add_event(
                    EV_RUN_END_RECOVERED, {"run": run_id, "last_ns": self.ns(end_s)}, ts_ns=self.ns(end_s) + NS
                )
        return run_id

    def outage(
        self, key: str, last_ok_s: float | None, start_s: float, last_fail_s: float | None, end_s: float | None
    ) -> int:
        from watchdog.journal.schema import EV_OUTAGE_CLOSE, EV_OUTAGE_OPEN

        seq = self.journal.add_event(
            EV_OUTAGE_OPEN,
            {
                "start_ns": self.ns(start_s),
                "last_ok_ns": None if last_ok_s is None else self.ns(last_ok_s),
                "confirmed_ns": self.ns(start_s),
                "failure": "connect",
                "detail": "connect refused",
            },
            target=key,
            ts_ns=self.ns(start_s),
        )
        if end_s is not None:
            self.journal.add_event(
                EV_OUTAGE_CLOSE,
                {"end_ns": self.ns(end_s), "last_fail_ns": self.ns(last_fail_s or start_s)},
                target=key,
                ref=seq,
                ts_ns=self.ns(end_s),
            )
        return seq

    def close(self) -> None:
        self.journal.seal(now_ns=self.origin)
        self.journal.close()
