"""File descriptors: the agent checks at start that probes keep room beside the status page.

Every probe in flight holds a socket or two; the journal, its WAL, the log, the document worker and the
notification and export clients hold a few more; the status page holds up to ``web.max_connections``. A
page flood must never take the probes' descriptors (a probe that cannot open a socket is journaled as
``internal``, never against the provider, but it still loses a measurement). So at start the soft
``RLIMIT_NOFILE`` is raised towards the hard one, and a clear warning names the numbers if the total
still does not fit.
"""

from __future__ import annotations

import logging
import resource
from collections.abc import Callable
from dataclasses import dataclass

from watchdog.config import Config

_LOGGER = logging.getLogger(__name__)

RESERVE_FDS = 64  # journal + WAL + shm, log, document worker pipes, notify/export clients, signals, slack
PER_PROBE_FDS = 2  # a socket, and a resolver's or TLS's second descriptor
WANTED_SOFT = 65536  # the systemd unit's LimitNOFILE


@dataclass(frozen=True)
class FdBudget:
    """What the agent needs and what it got."""

    probes: int
    page: int
    reserve: int
    soft: int
    hard: int

    @property
    def needed(self) -> int:
        return self.probes + self.page + self.reserve

    @property
    def enough(self) -> bool:
        return self.soft >= self.needed


def needed_fds(config: Config) -> tuple[int, int]:
    """(descriptors the probes may hold at once, descriptors the page may hold)."""
    in_flight = min(len(config.targets), config.agent.concurrency)
    web = config.model.web
    return in_flight * PER_PROBE_FDS, web.max_connections if web.enabled else 0


def check_fd_limit(
    config: Config,
    *,
    getrlimit: Callable[[int], tuple[int, int]] = resource.getrlimit,
    setrlimit: Callable[[int, tuple[int, int]], None] = resource.setrlimit,
) -> FdBudget:
    """Raise the soft RLIMIT_NOFILE towards the hard limit; warn with the numbers when it is still too low."""
    probes, page = needed_fds(config)
    soft, hard = getrlimit(resource.RLIMIT_NOFILE)
    ceiling = WANTED_SOFT if hard == resource.RLIM_INFINITY else min(hard, WANTED_SOFT)
    if soft != resource.RLIM_INFINITY and soft < ceiling:
        try:
            setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
            soft = ceiling
        except (OSError, ValueError) as exc:
            _LOGGER.warning("could not raise the open-files limit from %d to %d: %s", soft, ceiling, exc)
    budget = FdBudget(probes, page, RESERVE_FDS, soft, hard)
    if not budget.enough:
        _LOGGER.warning(
            "open-files limit too low: soft=%d hard=%d, needed %d (probes %d + status page %d + reserve %d); "
            "raise LimitNOFILE (the shipped unit sets %d) or lower web.max_connections or agent.concurrency",
            soft,
            hard,
            budget.needed,
            probes,
            page,
            RESERVE_FDS,
            WANTED_SOFT,
        )
    else:
        _LOGGER.debug("open-files limit soft=%d hard=%d needed=%d", soft, hard, budget.needed)  # fine: no news
    return budget
