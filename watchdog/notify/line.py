"""The customer's own line: when it counts as down (LAN control down, or internet quorum lost) and back up."""

from __future__ import annotations

import dataclasses

from watchdog.agent.detector import State
from watchdog.agent.sinks import OutageNotice
from watchdog.agent.state import Board
from watchdog.model import NS, Role
from watchdog.notify.fold import FlapFolder
from watchdog.notify.messages import Messages

LINE = "line"  # the flap folder's subject (and a message category) for the customer's line


@dataclasses.dataclass
class LineEpisode:
    """The line is down: since the opening of which outage, and whether the ISP is blamed."""

    outage_id: int
    start_ns: int
    isp: bool


class LineWatch:
    """Tells ``line_down`` and ``line_up`` once per episode; ``episode`` is set while the line is down."""

    def __init__(self, messages: Messages, folder: FlapFolder, board: Board) -> None:
        self.messages = messages
        self.config = messages.config
        self.folder = folder
        self.board = board
        self.episode: LineEpisode | None = None

    async def check(self, notice: OutageNotice | None) -> None:
        """The line is down while a LAN control is down or so many internet controls are that quorum is lost."""
        board = self.board
        lan = [s for s in board.targets.values() if s.target.role is Role.LAN]
        net = [s for s in board.targets.values() if s.target.role is Role.INTERNET]
        lan_down = [s for s in lan if s.state is State.DOWN]
        net_down = [s for s in net if s.state is State.DOWN]
        quorum = self.config.quorum
        lost = bool(net) and len(net_down) > len(net) - quorum
        down = bool(lan_down) or lost
        now = self.messages.clock()
        isp = next((p for p in self.config.providers if p.kind.value == "isp"), None)
        if down and self.episode is None:
            outages = [s.outage for s in lan_down + net_down if s.outage is not None]
            if not outages:
                return
            first = min(outages, key=lambda o: (o.start_ns, o.id))
            if not lan_down and lan:
                # Blame the ISP only once every LAN control has answered *after* the trouble began: when the
                # whole line drops at once, the router may simply not have been probed yet (its hysteresis
                # lags). Until then wait; the next LAN result calls this again.
                since = [s.last for s in lan if s.last is not None and s.last.ts_ns >= first.start_ns]
                if len(since) < len(lan) or not all(r.ok for r in since):
                    return
            as_isp = isp is not None and not lan_down
            self.episode = LineEpisode(first.id, first.start_ns, as_isp)
            if not self.folder.opened(LINE, first.id, first.start_ns, now):
                return
            await self.messages.queue(
                "line_down",
                f"line-down/{first.id}",
                "line",
                "failure",
                isp=isp.display_name if as_isp and isp else None,
                lan_down=bool(lan_down),
                since=first.start_ns,
                age=(now - first.start_ns) / NS,
                failing_lan=[s.target.name for s in lan_down],
                failing_net=[s.target.name for s in net_down],
                net_down=len(net_down),
                net_total=len(net),
                quorum=quorum,
                emergency=(isp.contacts.emergency_phone or isp.contacts.support_phone) if as_isp and isp else "",
            )
        elif not down and self.episode is not None:
            episode, self.episode = self.episode, None
            end = notice.outage.end_ns if notice is not None and notice.outage.end_ns else now
            if not self.folder.closed(LINE, episode.outage_id, end):
                return
            await self.messages.queue(
                "line_up",
                f"line-up/{episode.outage_id}",
                "line",
                "success",
                isp=isp.display_name if episode.isp and isp else None,
                start=episode.start_ns,
                end=end,
                length=(end - episode.start_ns) / NS,
            )
