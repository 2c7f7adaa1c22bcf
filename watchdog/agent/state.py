"""The live board: each target's latest result and state, and the customer's line right now."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from watchdog.agent.detector import State
from watchdog.model import Attribution, Outage, ProviderKind, Result, Role, Target


@dataclass(frozen=True, slots=True)
class LineStatus:
    """How many controls answer right now; a control counts as up when its last probe succeeded."""

    lan_up: int
    lan_total: int
    internet_up: int
    internet_total: int
    quorum: int
    failing: tuple[str, ...] = ()  # keys of controls whose last probe failed or that are down

    @property
    def lan_ok(self) -> bool:
        """Every LAN control answered (or there are none)."""
        return self.lan_up == self.lan_total

    @property
    def internet_ok(self) -> bool:
        """A quorum of internet controls answered."""
        return self.internet_total > 0 and self.internet_up >= self.quorum

    def verdict(self, kind: ProviderKind) -> Attribution:
        """The live reading of a provider failure right now (the journal's reading may refine it)."""
        lan_down = self.lan_up < self.lan_total
        if kind is ProviderKind.ISP:
            if lan_down:
                return Attribution.CUSTOMER_LINE
            return Attribution.PROVIDER if self.lan_total or self.internet_ok else Attribution.INCONCLUSIVE
        if lan_down:
            return Attribution.INCONCLUSIVE if self.internet_ok else Attribution.CUSTOMER_LINE
        if self.internet_ok:
            return Attribution.PROVIDER
        if self.internet_total and self.internet_total - self.internet_up > self.internet_total - self.quorum:
            return Attribution.CUSTOMER_LINE
        return Attribution.INCONCLUSIVE

    @property
    def controls_up(self) -> int:
        """LAN and internet controls up."""
        return self.lan_up + self.internet_up

    @property
    def controls_total(self) -> int:
        """LAN and internet controls configured."""
        return self.lan_total + self.internet_total


@dataclass
class TargetStatus:
    """What the board knows of one target."""

    target: Target
    state: State = State.UNKNOWN
    last: Result | None = None
    last_ok_ns: int | None = None
    outage: Outage | None = None
    failing: int = 0
    results: int = 0
    degraded: tuple[str, ...] = ()  # quality limits whose degraded windows are open (down wins on display)

    @property
    def shown_state(self) -> str:
        """``down``, ``degraded``, ``up`` or ``unknown``: down wins over degraded."""
        if self.state is State.UP and self.degraded:
            return "degraded"
        return self.state.value


@dataclass
class Board:
    """In-memory state for the status page, notifications and ``watchdog check``; the journal is the record."""

    quorum: int
    targets: dict[str, TargetStatus] = field(default_factory=dict)

    @classmethod
    def for_targets(cls, targets: Iterable[Target], quorum: int) -> Board:
        """A board with every target unknown."""
        return cls(quorum, {t.key: TargetStatus(t) for t in targets})

    def update(self, result: Result, state: State, outage: Outage | None, failing: int) -> None:
        """Record a result and the detector's state after it."""
        status = self.targets[result.target]
        status.last = result
        status.state = state
        status.outage = outage
        status.failing = failing
        status.results += 1
        if result.ok:
            status.last_ok_ns = result.ts_ns

    def line(self, *, clean: bool = False) -> LineStatus:
        """The customer's line now; with ``clean`` a control over one of its quality limits counts as not up
        (the reading for a provider's *degraded* window, as the reports attribute them: only a clean line,
        neither degraded nor down, puts the degradation on the provider)."""
        lan = [s for s in self.targets.values() if s.target.role is Role.LAN]
        net = [s for s in self.targets.values() if s.target.role is Role.INTERNET]

        def up(s: TargetStatus) -> bool:
            return s.last is not None and s.last.ok and s.state is not State.DOWN and not (clean and s.degraded)

        failing = tuple(s.target.key for s in lan + net if s.last is not None and not up(s))
        return LineStatus(
            lan_up=sum(up(s) for s in lan),
            lan_total=len(lan),
            internet_up=sum(up(s) for s in net),
            internet_total=len(net),
            quorum=self.quorum,
            failing=failing,
        )

    def provider_targets(self, provider_id: str) -> list[TargetStatus]:
        """One provider's targets."""
        return [s for s in self.targets.values() if s.target.provider == provider_id]
