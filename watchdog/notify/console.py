"""The console: one line on stdout per state change while ``watchdog run`` runs, and a summary of the first round.

Lines (times in the agent's zone)::

    12:00:05 first round: 5 of 6 up
      lan/gateway        icmp  10.0.0.1          up
      internet/anchor3   tcp   10.0.3.2:53       DOWN refused: connection refused
      your line: working (router answers, 2 of 3 anchors up, quorum 2)
    12:03:01 DOWN isp/dns1 since 12:02:01: timeout — your line works: the provider's side
    12:04:31 UP   isp/dns1 after 1m30s
    12:10:00 LINE DOWN since 12:09:00: your router does not answer (lan/gateway)
    12:12:00 LINE UP after 3m

The log (stderr) says the same for machines; this is for the person who started the agent.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from watchdog.agent.detector import State
from watchdog.agent.sinks import AgentContext, OutageNotice, Sink
from watchdog.model import NS, Attribution, ProviderKind, Result, Role
from watchdog.timefmt import duration_text, to_datetime

VERDICTS = {
    Attribution.PROVIDER: "your line works: the provider's side",
    Attribution.CUSTOMER_LINE: "your line is down too: not counted against the provider",
    Attribution.INCONCLUSIVE: "your line's controls disagree: not decided yet",
    Attribution.NO_DATA: "no data",
}


FIRST_ROUND_LISTED = 50  # targets the first-round summary names one by one; past that, only those down


class ConsoleSink(Sink):
    """Writes state changes to ``out`` (stdout); ``hint`` lines follow the first-round summary."""

    name = "console"

    def __init__(
        self,
        ctx: AgentContext,
        *,
        hint: Sequence[str] = (),
        out: TextIO | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        import time

        self.ctx = ctx
        self.config = ctx.config
        self.hint = list(hint)
        self.out = out
        self.clock = clock or time.time_ns
        self.pending: set[str] = {t.key for t in ctx.config.targets}
        self.first: dict[str, Result] = {}
        self.line_down_since: int | None = None

    def _time(self, ts_ns: int) -> str:
        return to_datetime(ts_ns, self.config.zone).strftime("%H:%M:%S")

    def _print(self, *lines: str) -> None:
        stream = self.out or sys.stdout
        for line in lines:
            print(line, file=stream)
        stream.flush()

    async def on_result(self, result: Result, seq: int | None) -> None:
        """Collect the first round; print it once every target has answered once."""
        if not self.pending or result.target not in self.pending:
            return
        self.pending.discard(result.target)
        self.first[result.target] = result
        if self.pending:
            return
        up = sum(1 for r in self.first.values() if r.ok)
        total = len(self.first)
        targets = self.config.targets
        if total > FIRST_ROUND_LISTED:  # thousands of targets: name only those down (a line each would flood)
            targets = tuple(t for t in targets if not self.first[t.key].ok)[:FIRST_ROUND_LISTED]
        lines = [f"{self._time(self.clock())} first round: {up} of {total} up"]
        if targets:
            width = max(len(t.key) for t in targets)
            addr_width = max(len(t.address) for t in targets)
            for target in targets:
                r = self.first[target.key]
                state = "up" if r.ok else f"DOWN {r.failure or ''}: {r.detail}".rstrip(": ")
                lines.append(f"  {target.key:<{width}}  {target.kind:<4}  {target.address:<{addr_width}}  {state}")
        if len(targets) < total:
            down = total - up - sum(1 for t in targets if not self.first[t.key].ok)
            rest = f"{up:,} up" + (f", {down:,} more down" if down else "")
            lines.append(f"  not listed: {rest} (past {FIRST_ROUND_LISTED} targets only those down are listed)")
        lines.append(f"  your line: {self._line_words()}")
        self._print(*lines, *self.hint)

    def _line_words(self) -> str:
        role = self.config.target_roles
        lan = [r for k, r in self.first.items() if role[k] is Role.LAN]
        net = [r for k, r in self.first.items() if role[k] is Role.INTERNET]
        lan_ok = all(r.ok for r in lan)
        net_up = sum(1 for r in net if r.ok)
        quorum = self.config.quorum
        working = lan_ok and (not net or net_up >= quorum)
        router = "no router configured" if not lan else "router answers" if lan_ok else "router does NOT answer"
        anchors = f"{net_up} of {len(net)} anchors up, quorum {quorum}"
        return f"{'working' if working else 'NOT working'} ({router}, {anchors})"

    def _line_down(self) -> str | None:
        """Why the line is down right now (a LAN control down, or the anchors' quorum lost), or None."""
        board = self.ctx.board
        lan_down = [s.target.key for s in board.targets.values() if s.target.role is Role.LAN and s.state is State.DOWN]
        net = [s for s in board.targets.values() if s.target.role is Role.INTERNET]
        net_down = [s.target.key for s in net if s.state is State.DOWN]
        if lan_down:
            return f"your router does not answer ({', '.join(lan_down)})"
        if net and len(net_down) > len(net) - self.config.quorum:
            return (
                f"the internet anchors lost their quorum ({len(net_down)} of {len(net)} down, "
                f"quorum {self.config.quorum}: {', '.join(net_down)})"
            )
        return None

    async def on_outage(self, notice: OutageNotice) -> None:
        """One line per outage opened or closed, and one when the line goes down or comes back."""
        outage, target = notice.outage, notice.target
        now = self.clock()
        if notice.event == "opened":
            failure = outage.failure.value if outage.failure else "failed"
            text = f"{self._time(now)} DOWN {target.key} since {self._time(outage.start_ns)}: {failure}"
            if target.role is Role.PROVIDER:
                kind = self.config.provider(target.provider or "").kind if target.provider else ProviderKind.OTHER
                text += f" — {VERDICTS[notice.line.verdict(kind)]}"
            self._print(text)
        else:
            end = outage.end_ns or now
            self._print(f"{self._time(now)} UP   {target.key} after {duration_text((end - outage.start_ns) / NS)}")
        if target.role is Role.PROVIDER:
            return
        why = self._line_down()
        if why is not None and self.line_down_since is None:
            self.line_down_since = outage.start_ns
            self._print(f"{self._time(now)} LINE DOWN since {self._time(outage.start_ns)}: {why}")
        elif why is None and self.line_down_since is not None:
            end = outage.end_ns or now
            since, self.line_down_since = self.line_down_since, None
            self._print(f"{self._time(now)} LINE UP after {duration_text((end - since) / NS)}")


def console_sink(ctx: AgentContext, hint: Sequence[str] = ()) -> ConsoleSink:
    """The console sink for ``watchdog run``."""
    return ConsoleSink(ctx, hint=hint)
